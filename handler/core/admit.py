"""Admission: look at the header only and refuse what this memory tier must not decode."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import (
    Image,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from handler.core.options import OutputFormat
from handler.core.structure import check_structure, decoder_path
from handler.core.tiers import MemoryTier
from handler.errors import (
    CorruptImageError,
    EmptyBodyError,
    ImageTooLargeError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)

# Pillow plugin names we let Image.open try; the JPEG plugin also opens MPO (phone JPEGs).
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
# EXIF orientations 5-8 swap width and height.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112

# The plugins of the allowed formats and of the outputs, registered now: Pillow's own start
# (Image.preinit) brings BMP, GIF, JPEG, PPM and PNG; these add WEBP, TIFF and MPO (phone JPEGs).
# Image.init() would import all ~45 of Pillow's plugins (AVIF, PDF, DDS, ...), ~35 ms of every
# cold start for formats that are refused anyway.
Image.preinit()
_PLUGINS = (MpoImagePlugin, TiffImagePlugin, WebPImagePlugin)
# Pillow's bomb guard follows the tier's cap, set on every admit (guard_pillow_allocations);
# its default (~179 MP, with warnings from ~89 MP) would refuse images the larger tiers admit.
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
# Signatures of allowed formats: a body that starts like one of them but does not open is a
# corrupt image (422), not an unsupported format (415).
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)
# "BM" alone would match plain text too: a BMP also needs a known info-header size.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


@dataclass(frozen=True)
class ImageHeader:
    """What the header says about an admitted image."""

    format: str
    mode: str
    width: int
    height: int
    orientation: int
    path: str = ""  # the decoder path (handler/core/structure.py): what decoding costs a pixel

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


def guard_pillow_allocations(max_pixels: int) -> None:
    """Make Pillow refuse, while opening, any image buffer over the cap.

    Some plugins allocate during Image.open, before admit sees the size: a GIF whose first
    frame claims 45000x45000 with disposal 'restore to background' has a 2 GB disposal image
    filled. Pillow checks MAX_IMAGE_PIXELS before those allocations and raises above twice it.
    The value is process-wide: one process serves one tier, so every call sets the same value.
    """
    Image.MAX_IMAGE_PIXELS = (max_pixels + 1) // 2


def sniff_format(data: bytes) -> str | None:
    """The allowed format whose signature the bytes start with, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    for magic, name in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def describe_non_image(data: bytes) -> str:
    """A short guess at what a rejected body is, for the error message."""
    head = data[:64].lstrip().lower()
    for magic, name in _KNOWN_NON_IMAGES:
        if head.startswith(magic.lower()):
            return name
    return "not an image cutout can read"


def admit(data: bytes, tier: MemoryTier, *, output: OutputFormat = OutputFormat.PNG) -> ImageHeader:
    """Check size caps and format from the header; raise a CutoutError to refuse.

    The structure (scans, chunks, frames, pages) is counted before Pillow parses anything, and
    the pixel cap is checked before anything else is read from the file, so a decompression or
    CPU bomb costs a header parse. The cap follows the decoder path (a WebP or a progressive
    CMYK JPEG needs more memory a pixel to decode) and the output (WebP encoding needs more).
    """
    if not data:
        raise EmptyBodyError("the request has no image: send the image bytes as the body")
    if len(data) > tier.max_input_bytes:
        raise PayloadTooLargeError(
            f"the upload is {len(data)} bytes; the cap at {tier.memory_mb} MB is "
            f"{tier.max_input_bytes} bytes"
        )
    signature = sniff_format(data)
    if signature is not None:
        check_structure(data, signature)
    guard_pillow_allocations(tier.max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = open_image(data)
    except UnidentifiedImageError:
        if signature is not None:
            raise CorruptImageError(
                f"the {signature} image is corrupt: its header could not be read"
            ) from None
        raise _unsupported(data) from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            "the image declares more pixels than allowed; the cap at "
            f"{tier.memory_mb} MB is {tier.max_pixels / 1e6:.1f} MP"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # plugins raise many types on hostile bytes; all are the file's
        if signature is None:  # a plugin with a loose signature (BMP's "BM") tried and failed
            raise _unsupported(data) from None
        raise CorruptImageError(
            f"the {signature} image header is unreadable ({type(exc).__name__})"
        ) from None
    with image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise CorruptImageError(f"the image declares an empty size {width}x{height}")
        # The caps come before anything else is read: metadata can cost a decode (see below).
        path = decoder_path(image, data)
        cap = tier.pixel_cap(output, path)
        if width * height > cap:
            raise ImageTooLargeError(
                f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); the cap "
                f"{_cap_scope(tier, output, path)}at {tier.memory_mb} MB is {cap / 1e6:.1f} MP"
            )
        header = ImageHeader(
            format=str(image.format),
            mode=image.mode,
            width=width,
            height=height,
            orientation=_orientation(image),
            path=path,
        )
    return header


def _cap_scope(tier: MemoryTier, output: OutputFormat, path: str) -> str:
    """Which cost sets the cap, when it is below the common one: the input's decoder path or
    the output format."""
    cap = tier.pixel_cap(output, path)
    if cap >= tier.max_pixels:
        return ""
    if cap < tier.pixel_cap(output):
        return f"for {path} input "
    return f"for {output.name} output "


def _unsupported(data: bytes) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"unsupported format ({describe_non_image(data)}); send JPEG, PNG, WebP, GIF, BMP or TIFF"
    )


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation still to apply after decoding, from the header; never decodes
    pixels. Pillow already applies a TIFF's own Orientation tag while loading (and reports
    the oriented size), so for TIFF nothing is left to apply."""
    if image.format == "TIFF":
        return 1
    if image.format == "PNG" and "exif" not in image.info:
        # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the
        # pixel data: a decompression bomb would go off here. Only an early eXIf counts.
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block must not refuse an otherwise fine image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
