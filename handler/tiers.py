"""Memory tiers: how many pixels and input bytes a Lambda memory size can safely hold."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

# peak_rss_mb = BASE_MB + BYTES_PER_PIXEL * pixels / MiB, fitted by bench/memory_model.py
# over the real pipeline (PNG output, the costliest path). Re-run it after changing the pipeline.
BASE_MB = 200.0
BYTES_PER_PIXEL = 14.0
# Plan for this share of the tier; the rest is headroom for the fit's error and the runtime.
USABLE_SHARE = 0.85
# Encoded input is held while decoding: allow one eighth of the image budget for it.
INPUT_SHARE = 8
MIN_INPUT_BYTES = 4 * MIB


@dataclass(frozen=True)
class MemoryTier:
    """The caps that follow from one memory size."""

    memory_mb: int
    max_pixels: int
    max_input_bytes: int

    @classmethod
    def for_memory(cls, memory_mb: int) -> MemoryTier:
        """Caps for a Lambda memory size in MB, with headroom under the fitted peak."""
        budget_mb = memory_mb * USABLE_SHARE - BASE_MB
        if budget_mb <= 0:
            return cls(memory_mb=memory_mb, max_pixels=0, max_input_bytes=0)
        max_pixels = int(budget_mb * MIB / BYTES_PER_PIXEL)
        max_input_bytes = max(MIN_INPUT_BYTES, int(budget_mb * MIB / INPUT_SHARE))
        return cls(memory_mb=memory_mb, max_pixels=max_pixels, max_input_bytes=max_input_bytes)

    def estimated_peak_mb(self, pixels: int) -> float:
        """Predicted whole-process peak RSS while processing an image of this many pixels."""
        return BASE_MB + BYTES_PER_PIXEL * pixels / MIB

    def image_budget_bytes(self) -> int:
        """Bytes available for images in flight at once (the concurrency budget)."""
        return max(0, int((self.memory_mb * USABLE_SHARE - BASE_MB) * MIB))

    def as_dict(self) -> dict[str, int | float]:
        return {
            "memory_mb": self.memory_mb,
            "max_pixels": self.max_pixels,
            "max_megapixels": round(self.max_pixels / 1e6, 1),
            "max_input_bytes": self.max_input_bytes,
        }
