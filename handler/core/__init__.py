"""The image core: pure functions over bytes, arrays and small dataclasses; no AWS, no HTTP."""
