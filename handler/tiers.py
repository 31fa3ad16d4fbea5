"""Memory tiers: how many pixels and input bytes a Lambda memory size can safely hold.

The memory model, measured by bench/memory_model.py (data and fit in docs/memory.md):

    peak_mb = max(INFERENCE_PEAK_MB + held,
                  BASE_MB + bytes_per_pixel * pixels / MiB,
                  BASE_MB + 4 * pixels / MiB + 2 * input_bytes / MiB)
              + input_bytes / MiB

A request has phases that never overlap. The model runs first, on a reduced picture, with
at most HELD_DECODE_MB of decoded image alive (the pipeline frees and later re-decodes
anything bigger); its working set is returned when it finishes. Then the full-size work
(decode, compose, encode) runs at `bytes_per_pixel`, which is the worst measured path: PNG,
JPEG and mask outputs share one figure, WebP (whose encoder alone needs several times more)
has its own. The encoded input is held throughout, and a hostile file can make Pillow read
part of it twice more for a moment while decoding (unknown PNG chunks are read in blocks and
joined); that is the third term.
"""

from __future__ import annotations

from dataclasses import dataclass

from handler.options import OutputFormat

MIB = 1024 * 1024

# Fitted by bench/memory_model.py on 2026-11-26 (Linux x86-64, CPython 3.11, Pillow 13,
# onnxruntime 1.32; data, fit and residuals in docs/memory.md). Re-run it after changing the
# pipeline, the ONNX session options or the dependencies, and paste the new values here.
BASE_MB = 93.2
BYTES_PER_PIXEL = 9.0  # worst path: RGBA input on an opaque colour, or cropped to 1 px less
WEBP_BYTES_PER_PIXEL = 37.5  # worst path: RGBA input with a noisy alpha, WebP output
INFERENCE_PEAK_MB = 247.7
# Pillow keeps RGB and RGBA at four bytes a pixel.
DECODED_BYTES_PER_PIXEL = 4
# A decoded image up to this size stays alive while the model runs (saves a second decode).
HELD_DECODE_MB = 32.0
# Plan for this share of the tier; the rest is headroom for the fit's error and the runtime.
USABLE_SHARE = 0.85
# Share of the image budget kept for the encoded input, which is held for the whole request.
# At most 5/23, so that the decode-time term (4 px + 3 input) at both caps fits the same room
# as the full-size term (9 px + input): the caps hold for inputs padded to the byte cap.
INPUT_SHARE = 0.2
# Extra copies of the input Pillow may hold for a moment while decoding a hostile file.
INPUT_TRANSIENT_COPIES = 2


@dataclass(frozen=True)
class MemoryTier:
    """The caps that follow from one memory size."""

    memory_mb: int
    max_pixels: int
    max_input_bytes: int
    max_webp_pixels: int | None = None

    @classmethod
    def for_memory(cls, memory_mb: int) -> MemoryTier:
        """Caps for a Lambda memory size in MB, with headroom under the fitted peak."""
        usable_mb = memory_mb * USABLE_SHARE
        room_mb = usable_mb - BASE_MB
        input_mb = min(room_mb * INPUT_SHARE, usable_mb - INFERENCE_PEAK_MB - HELD_DECODE_MB)
        if input_mb <= 0:
            return cls(memory_mb=memory_mb, max_pixels=0, max_input_bytes=0, max_webp_pixels=0)
        pixel_bytes = (room_mb - input_mb) * MIB
        return cls(
            memory_mb=memory_mb,
            max_pixels=int(pixel_bytes / BYTES_PER_PIXEL),
            max_input_bytes=int(input_mb * MIB),
            max_webp_pixels=int(pixel_bytes / WEBP_BYTES_PER_PIXEL),
        )

    def pixel_cap(self, output: OutputFormat = OutputFormat.PNG) -> int:
        """The pixel cap for an output format (WebP's encoder needs more memory)."""
        if output is OutputFormat.WEBP and self.max_webp_pixels is not None:
            return min(self.max_webp_pixels, self.max_pixels)
        return self.max_pixels

    def estimated_peak_mb(
        self, pixels: int, input_bytes: int = 0, output: OutputFormat = OutputFormat.PNG
    ) -> float:
        """Predicted whole-process peak RSS while processing one image of this size."""
        return estimated_peak_mb(pixels, input_bytes, output)

    def estimated_bytes(
        self, pixels: int, input_bytes: int = 0, output: OutputFormat = OutputFormat.PNG
    ) -> int:
        """What one image adds to the idle process at its peak: its share of the budget."""
        return int((estimated_peak_mb(pixels, input_bytes, output) - BASE_MB) * MIB)

    def image_budget_bytes(self) -> int:
        """Bytes available for images in flight at once (the concurrency budget)."""
        return max(0, int((self.memory_mb * USABLE_SHARE - BASE_MB) * MIB))

    def as_dict(self) -> dict[str, int | float]:
        webp = self.pixel_cap(OutputFormat.WEBP)
        return {
            "memory_mb": self.memory_mb,
            "max_pixels": self.max_pixels,
            "max_megapixels": round(self.max_pixels / 1e6, 1),
            "max_input_bytes": self.max_input_bytes,
            "max_webp_pixels": webp,
            "max_webp_megapixels": round(webp / 1e6, 1),
        }


def estimated_peak_mb(
    pixels: int, input_bytes: int = 0, output: OutputFormat = OutputFormat.PNG
) -> float:
    """The memory model: whole-process peak RSS in MiB for one image."""
    per_pixel = WEBP_BYTES_PER_PIXEL if output is OutputFormat.WEBP else BYTES_PER_PIXEL
    decoded_mb = DECODED_BYTES_PER_PIXEL * pixels / MIB
    input_mb = input_bytes / MIB
    inference_mb = INFERENCE_PEAK_MB + min(HELD_DECODE_MB, decoded_mb)
    full_size_mb = BASE_MB + per_pixel * pixels / MIB
    decoding_mb = BASE_MB + decoded_mb + INPUT_TRANSIENT_COPIES * input_mb
    return max(inference_mb, full_size_mb, decoding_mb) + input_mb
