"""Memory tiers: how many pixels and input bytes a Lambda memory size can safely hold.

The memory model, measured by bench/memory_model.py (data and fit in docs/memory.md):

    peak_mb = max(inference_peak_mb + held,
                  base_mb + bytes_per_pixel * pixels / MiB,
                  base_mb + 4 * pixels / MiB + 2 * input_bytes / MiB)
              + input_bytes / MiB

`base_mb` (a warm idle process) and `inference_peak_mb` depend on the ONNX session profile
(handler/core/predict.py): the lean one returns the model's working set after every run, the fast
one keeps it resident in its arena. Tiers from FAST_FROM_MB use the fast profile.

A request has phases that never overlap. The model runs first, on a reduced picture, with
at most HELD_DECODE_MB of decoded image alive (the pipeline frees and later re-decodes
anything bigger); its working set is returned when it finishes. Then the full-size work
(decode, compose, encode) runs at `bytes_per_pixel`: the larger of the output's figure (PNG,
JPEG and mask outputs share one, WebP, whose encoder alone needs several times more, has its
own) and the input's decoder path's (DECODE_BYTES_PER_PIXEL: a WebP, or a progressive JPEG
with full-size chroma or four components, needs more to decode than the common figure). Each
path whose decode costs more than the common figure gets its own, lower, pixel cap. The
encoded input is held throughout, and a hostile file can make Pillow read part of it twice
more for a moment while decoding (unknown PNG chunks are read in blocks and joined); that is
the third term.
"""

from __future__ import annotations

from dataclasses import dataclass

from handler.core.options import OutputFormat
from handler.errors import ModelUnavailableError

MIB = 1024 * 1024

# Fitted by bench/memory_model.py on 2026-11-26 (Linux x86-64, CPython 3.11, Pillow 13,
# onnxruntime 1.32, 16 paths at 1-64 MP, each profile; data, fit and residuals in
# docs/memory.md). Re-run it after changing the pipeline, the ONNX session options or the
# dependencies, and paste the new values here.
BYTES_PER_PIXEL = 9.1  # worst path: RGBA input on an opaque colour, or cropped to 1 px less
WEBP_BYTES_PER_PIXEL = 37.5  # worst path: RGBA input with a noisy alpha, WebP output
# What decoding costs a pixel, by decoder path (handler/core/structure.py decoder_path), where
# it is more than BYTES_PER_PIXEL; every other measured path decodes within it. Measured by
# `bench/memory_model.py paths` (docs/memory.md, "Decoder paths"): the whole process's net
# peak per pixel with PNG output, each file carrying EXIF orientation 6 where its format can.
DECODE_BYTES_PER_PIXEL = {
    "webp-lossy": 16.1,  # libwebp's two frame canvases, its frame copy and the image: 16 a pixel
    "webp-lossless": 17.9,
    "webp-animated": 16.1,
    "jpeg-progressive-cmyk": 12.1,  # coefficients of four full-size components (8) + the image
    "jpeg-progressive-ycck": 12.1,
    "jpeg-progressive-444": 10.1,  # coefficients of three full-size components (6) + the image
}
# The measured paths that decode within BYTES_PER_PIXEL. A path in neither set (a TIFF
# compression nobody measured, say) is charged the worst of its format.
COMMON_PATHS = frozenset(
    {
        "jpeg", "jpeg-444", "jpeg-progressive", "jpeg-cmyk", "jpeg-ycck",
        "png", "png-16bit", "png-interlaced", "png-16bit-interlaced",
        "tiff-raw", "tiff-lzw", "tiff-deflate", "tiff-packbits", "tiff-jpeg",
        "gif", "bmp",
    }
)  # fmt: skip
# The lean session profile: the model's working set is returned after every run.
BASE_MB = 128.5
INFERENCE_PEAK_MB = 285.3
# The fast profile: the arena keeps the working set resident, so the base includes it.
FAST_BASE_MB = 399.7
FAST_INFERENCE_PEAK_MB = 426.6
# From this tier up the fast profile leaves room for the goals (40 MP at 1,024 MB).
FAST_FROM_MB = 1024
# u2net (the full U2-Net, 176 MB of weights), measured on 2026-12-01 with CUTOUT_MODELS=u2net
# (docs/memory.md, "u2net"): the per-pixel work is the pipeline's, the same for both models, so
# each base is u2netp's fitted base moved by the measured difference in warm idle RSS (lean
# +161.6 MiB, fast +237.0 MiB; a 40 MP point agrees), and each inference peak is the worst net
# peak at 1 MP, as for u2netp.
U2NET_BASE_MB = 290.1
U2NET_INFERENCE_PEAK_MB = 464.3
U2NET_FAST_BASE_MB = 636.7
U2NET_FAST_INFERENCE_PEAK_MB = 628.7
# The fast profile keeps u2net's ~240 MiB larger working set resident; below 2,048 MB that costs
# most of the caps (1,024 MB: 7 MP fast against 53 MP lean), so u2net runs lean there.
U2NET_FAST_FROM_MB = 2048
# The process without a model's session (interpreter, libraries, handler): in each model's own
# base, counted once when several are loaded (measured: u2netp + u2net warm idle is 112.3 MiB
# below the sum of the two alone with the fast profile, 114.8 with the lean one).
RUNTIME_MB = 112.3
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
class Footprint:
    """What the model costs a process under one session profile."""

    base_mb: float  # a warm idle process
    inference_peak_mb: float  # the process's peak while the model runs


# Whole-process footprints of one model alone, by (model, session profile): u2netp's from the
# fit above, u2net's from bench/memory_model.py with CUTOUT_MODELS=u2net (docs/memory.md, "u2net").
FOOTPRINTS = {
    ("u2netp", "lean"): Footprint(base_mb=BASE_MB, inference_peak_mb=INFERENCE_PEAK_MB),
    ("u2netp", "fast"): Footprint(base_mb=FAST_BASE_MB, inference_peak_mb=FAST_INFERENCE_PEAK_MB),
    ("u2net", "lean"): Footprint(base_mb=U2NET_BASE_MB, inference_peak_mb=U2NET_INFERENCE_PEAK_MB),
    ("u2net", "fast"): Footprint(
        base_mb=U2NET_FAST_BASE_MB, inference_peak_mb=U2NET_FAST_INFERENCE_PEAK_MB
    ),
}
DEFAULT_MODELS = ("u2netp",)
# The smallest tier from which each model runs the fast profile (the arena's resident working
# set is worth its memory there); a set of models takes the largest.
FAST_FROM_MB_BY_MODEL = {"u2netp": FAST_FROM_MB, "u2net": U2NET_FAST_FROM_MB}
# Lambda's memory sizes worth naming when a model does not fit (any MB from 128 is allowed).
LAMBDA_TIERS_MB = (512, 1024, 1536, 2048, 3008, 4096, 6144, 8192, 10240)
# A tier holds a set of models when it admits at least a photo this large with them.
MIN_HELD_PIXELS = 4_000_000


def footprint_for(models: tuple[str, ...], profile: str) -> Footprint:
    """The footprint of a process holding every model's session.

    Each session stays resident, so the bases add up, less the interpreter and libraries that
    every model's own measurement includes once (RUNTIME_MB); one inference runs at a time
    (handler/core/predict.py), so the peak is the largest model's peak over the others' bases.
    """
    own = [FOOTPRINTS[(name, profile)] for name in models]
    extras = [f.base_mb - RUNTIME_MB for f in own]
    base = RUNTIME_MB + sum(extras)
    peak = max(
        f.inference_peak_mb + sum(extras) - extra for f, extra in zip(own, extras, strict=True)
    )
    return Footprint(base_mb=base, inference_peak_mb=peak)


def default_profile(memory_mb: int, models: tuple[str, ...] = DEFAULT_MODELS) -> str:
    """The session profile for a tier: fast where the memory allows it, else lean."""
    fast_from = max(FAST_FROM_MB_BY_MODEL[name] for name in models)
    return "fast" if memory_mb >= fast_from else "lean"


@dataclass(frozen=True)
class MemoryTier:
    """The caps that follow from one memory size and session profile."""

    memory_mb: int
    max_pixels: int
    max_input_bytes: int
    max_webp_pixels: int | None = None
    profile: str = "lean"
    models: tuple[str, ...] = DEFAULT_MODELS

    @classmethod
    def for_memory(
        cls,
        memory_mb: int,
        profile: str | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
    ) -> MemoryTier:
        """Caps for a Lambda memory size in MB, with headroom under the fitted peak.

        `profile` is the ONNX session profile (default: the tier's, see default_profile);
        `models` are the models the process holds (their sessions are all resident).
        """
        profile = profile or default_profile(memory_mb, models)
        model = footprint_for(models, profile)
        usable_mb = memory_mb * USABLE_SHARE
        room_mb = usable_mb - model.base_mb
        input_mb = min(room_mb * INPUT_SHARE, usable_mb - model.inference_peak_mb - HELD_DECODE_MB)
        if input_mb <= 0:
            return cls(memory_mb, 0, 0, 0, profile, models)
        pixel_bytes = (room_mb - input_mb) * MIB
        return cls(
            memory_mb=memory_mb,
            max_pixels=int(pixel_bytes / BYTES_PER_PIXEL),
            max_input_bytes=int(input_mb * MIB),
            max_webp_pixels=int(pixel_bytes / WEBP_BYTES_PER_PIXEL),
            profile=profile,
            models=models,
        )

    @property
    def footprint(self) -> Footprint:
        return footprint_for(self.models, self.profile)

    @property
    def holds_models(self) -> bool:
        """Whether these caps admit a useful photo (MIN_HELD_PIXELS) with the models loaded."""
        return self.max_pixels >= MIN_HELD_PIXELS

    def pixel_cap(self, output: OutputFormat = OutputFormat.PNG, path: str = "") -> int:
        """The pixel cap for an output format (WebP's encoder needs more memory) and an input's
        decoder path (a WebP or a progressive CMYK JPEG needs more to decode), the lower."""
        cap = self.max_pixels
        if output is OutputFormat.WEBP and self.max_webp_pixels is not None:
            cap = min(self.max_webp_pixels, cap)
        decode_per_pixel = decode_bytes_per_pixel(path)
        if decode_per_pixel > BYTES_PER_PIXEL:
            cap = min(cap, int(self.max_pixels * BYTES_PER_PIXEL / decode_per_pixel))
        return cap

    def estimated_peak_mb(
        self,
        pixels: int,
        input_bytes: int = 0,
        output: OutputFormat = OutputFormat.PNG,
        path: str = "",
    ) -> float:
        """Predicted whole-process peak RSS while processing one image of this size."""
        return estimated_peak_mb(pixels, input_bytes, output, self.footprint, path)

    def estimated_bytes(
        self,
        pixels: int,
        input_bytes: int = 0,
        output: OutputFormat = OutputFormat.PNG,
        path: str = "",
    ) -> int:
        """What one image adds to the idle process at its peak: its share of the budget."""
        peak_mb = estimated_peak_mb(pixels, input_bytes, output, self.footprint, path)
        return int((peak_mb - self.footprint.base_mb) * MIB)

    def image_budget_bytes(self) -> int:
        """Bytes available for images in flight at once (the concurrency budget)."""
        return max(0, int((self.memory_mb * USABLE_SHARE - self.footprint.base_mb) * MIB))

    def as_dict(self) -> dict[str, int | float | str | list[str]]:
        webp = self.pixel_cap(OutputFormat.WEBP)
        return {
            "memory_mb": self.memory_mb,
            "session_profile": self.profile,
            "max_pixels": self.max_pixels,
            "max_megapixels": round(self.max_pixels / 1e6, 1),
            "max_input_bytes": self.max_input_bytes,
            "max_webp_pixels": webp,
            "max_webp_megapixels": round(webp / 1e6, 1),
            "models": list(self.models),
        }


def smallest_tier_holding(models: tuple[str, ...], profile: str | None = None) -> int | None:
    """The smallest of Lambda's usual memory sizes whose caps hold these models, if any."""
    for memory_mb in LAMBDA_TIERS_MB:
        if MemoryTier.for_memory(memory_mb, profile, models).holds_models:
            return memory_mb
    return None


def tier_holding(
    memory_mb: int, profile: str | None = None, models: tuple[str, ...] = DEFAULT_MODELS
) -> MemoryTier:
    """The tier for these models, or ModelUnavailableError naming the smallest that holds them."""
    tier = MemoryTier.for_memory(memory_mb, profile, models)
    if tier.holds_models:
        return tier
    smallest = smallest_tier_holding(models, profile)
    where = f"the smallest that holds them is {smallest} MB" if smallest else "none does"
    raise ModelUnavailableError(
        f"{memory_mb} MB cannot hold {'+'.join(models)} (under "
        f"{MIN_HELD_PIXELS / 1e6:.0f} MP admitted); {where}: raise the memory size or load "
        "fewer models (CUTOUT_MODELS)"
    )


def decode_bytes_per_pixel(path: str) -> float:
    """What decoding costs a pixel on this decoder path ("" for the common figure).

    A path outside the table decodes within BYTES_PER_PIXEL when it was measured, else it is
    charged the worst measured path of its format, or of all formats.
    """
    if not path or path in DECODE_BYTES_PER_PIXEL:
        return DECODE_BYTES_PER_PIXEL.get(path, BYTES_PER_PIXEL)
    if path in COMMON_PATHS:
        return BYTES_PER_PIXEL
    family = path.split("-", 1)[0]
    same = [v for name, v in DECODE_BYTES_PER_PIXEL.items() if name.split("-", 1)[0] == family]
    return max(same or [BYTES_PER_PIXEL, *DECODE_BYTES_PER_PIXEL.values()])


def estimated_peak_mb(
    pixels: int,
    input_bytes: int = 0,
    output: OutputFormat = OutputFormat.PNG,
    footprint: Footprint = FOOTPRINTS[("u2netp", "lean")],
    path: str = "",
) -> float:
    """The memory model: whole-process peak RSS in MiB for one image."""
    per_pixel = WEBP_BYTES_PER_PIXEL if output is OutputFormat.WEBP else BYTES_PER_PIXEL
    per_pixel = max(per_pixel, decode_bytes_per_pixel(path))
    decoded_mb = DECODED_BYTES_PER_PIXEL * pixels / MIB
    input_mb = input_bytes / MIB
    inference_mb = footprint.inference_peak_mb + min(HELD_DECODE_MB, decoded_mb)
    full_size_mb = footprint.base_mb + per_pixel * pixels / MIB
    decoding_mb = footprint.base_mb + decoded_mb + INPUT_TRANSIENT_COPIES * input_mb
    return max(inference_mb, full_size_mb, decoding_mb) + input_mb
