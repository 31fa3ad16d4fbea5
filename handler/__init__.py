"""cutout: background removal with U2-Net on ONNX Runtime, for AWS Lambda and the laptop."""

from __future__ import annotations

__version__ = "0.1.0"
