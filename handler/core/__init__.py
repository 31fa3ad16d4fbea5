"""The image core: pure functions over bytes, arrays and small dataclasses (no FastAPI, boto3 or Powertools)."""
