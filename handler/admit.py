"""Admission: look at the header only and refuse what this memory tier must not decode."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from handler.encode import WEBP_MAX_SIDE
from handler.errors import (
    CorruptImageError,
    EmptyBodyError,
    ImageTooLargeError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)
from handler.options import OutputFormat
from handler.tiers import MemoryTier

# Pillow plugin names we let Image.open try; the JPEG plugin also opens MPO (phone JPEGs).
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
# EXIF orientations 5-8 swap width and height.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112

Image.init()  # register every plugin now, so `formats=` finds WEBP, TIFF and MPO
# Our own caps decide; Pillow's global bomb guard would otherwise warn or raise first.
Image.MAX_IMAGE_PIXELS = None
# PNG text chunks may decompress to 64 MB by Pillow's default, whatever the file's size: a
# zTXt bomb would sit outside the memory model. 4 MiB is far beyond any real image's text.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * 1024 * 1024

_KNOWN_NON_IMAGES = (
    (b"%PDF", "a PDF document"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML document"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"PK\x03\x04", "a ZIP archive"),
)


@dataclass(frozen=True)
class ImageHeader:
    """What the header says about an admitted image."""

    format: str
    mode: str
    width: int
    height: int
    orientation: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def megapixels(self) -> float:
        return self.pixels / 1e6

    @property
    def oriented_size(self) -> tuple[int, int]:
        """(width, height) after the EXIF orientation is applied."""
        if self.orientation in _SWAPPING_ORIENTATIONS:
            return (self.height, self.width)
        return (self.width, self.height)

    @property
    def is_jpeg(self) -> bool:
        return self.format in JPEG_FORMATS


def open_image(data: bytes) -> Image.Image:
    """Open bytes lazily (header only) with the allowed decoders."""
    return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)


def describe_non_image(data: bytes) -> str:
    """A short guess at what a rejected body is, for the error message."""
    head = data[:64].lstrip().lower()
    for magic, name in _KNOWN_NON_IMAGES:
        if head.startswith(magic.lower()):
            return name
    return "not an image cutout can read"


def admit(data: bytes, tier: MemoryTier, *, output: OutputFormat = OutputFormat.PNG) -> ImageHeader:
    """Check size caps and format from the header; raise a CutoutError to refuse.

    The pixel cap is checked before anything else is read from the file, so a decompression
    bomb costs a header parse. `output` matters because WebP encoding needs more memory.
    """
    if not data:
        raise EmptyBodyError("the request has no image: send the image bytes as the body")
    if len(data) > tier.max_input_bytes:
        raise PayloadTooLargeError(
            f"the upload is {len(data)} bytes; the cap at {tier.memory_mb} MB is "
            f"{tier.max_input_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = open_image(data)
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"unsupported format ({describe_non_image(data)}); "
            "send JPEG, PNG, WebP, GIF, BMP or TIFF"
        ) from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - guard is disabled above
        raise ImageTooLargeError(str(exc)) from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise CorruptImageError(f"the image header is unreadable: {type(exc).__name__}") from None
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise CorruptImageError(f"the image declares an empty size {width}x{height}")
        if output is OutputFormat.WEBP and max(width, height) > WEBP_MAX_SIDE:
            raise ImageTooLargeError(
                f"the image is {width}x{height}; WebP holds at most {WEBP_MAX_SIDE} px a "
                "side: ask for png or jpeg"
            )
        cap = tier.pixel_cap(output)
        if width * height > cap:
            raise ImageTooLargeError(
                f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); the cap "
                f"{_cap_scope(tier, output)}at {tier.memory_mb} MB is {cap / 1e6:.1f} MP"
            )
        return ImageHeader(
            format=str(image.format),
            mode=image.mode,
            width=width,
            height=height,
            orientation=_orientation(image),
        )


def _cap_scope(tier: MemoryTier, output: OutputFormat) -> str:
    return f"for {output.name} output " if tier.pixel_cap(output) < tier.max_pixels else ""


def _orientation(image: Image.Image) -> int:
    """EXIF orientation from what the header parse already read; never decodes pixels.

    Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixel
    data, so PNG only uses an eXIf chunk found before it (decode() still applies a late one).
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block must not refuse an otherwise fine image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
