"""cutout: background removal with U2-Net on ONNX Runtime, for AWS Lambda and the laptop."""

from __future__ import annotations

import time

__version__ = "0.1.0"

# Start of the package import: InitDurationMs runs from here to "model loaded".
INIT_STARTED = time.perf_counter()
