"""What the caller asked for: output format, edges, mask, background colour and crop, validated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from handler.errors import InvalidOptionError

_HEX_COLOR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MAX_CROP_MARGIN = 10_000
WHITE = (255, 255, 255, 255)

Rgba = tuple[int, int, int, int]
# The longest side each encoder can write: WebP's 14-bit sizes, libjpeg's JPEG_MAX_DIMENSION.
_MAX_SIDE = {"png": 2**31 - 1, "webp": 16383, "jpeg": 65500}


class OutputFormat(StrEnum):
    PNG = "png"
    WEBP = "webp"
    JPEG = "jpeg"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def max_side(self) -> int:
        return _MAX_SIDE[self.value]

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value


def parse_format(raw: str | None) -> OutputFormat:
    """`png`, `webp`, `jpeg` or `jpg` (any case); None means png."""
    if raw is None:
        return OutputFormat.PNG
    value = raw.strip().lower()
    if value == "jpg":
        value = "jpeg"
    try:
        return OutputFormat(value)
    except ValueError:
        raise InvalidOptionError(
            f"format must be one of png, webp, jpeg; got {raw[:40]!r}"
        ) from None


class Edges(StrEnum):
    """The mask's edges: the model's soft mask, or rembg's post-processed hard one."""

    SOFT = "soft"
    SHARP = "sharp"


def parse_edges(raw: str | None) -> Edges:
    """`soft` or `sharp` (any case); None or empty means soft."""
    if raw is None or not raw.strip():
        return Edges.SOFT
    try:
        return Edges(raw.strip().lower())
    except ValueError:
        raise InvalidOptionError(f"edges must be soft or sharp; got {raw[:40]!r}") from None


def parse_bool(name: str, raw: str | bool | None) -> bool:
    """A query-string boolean: 1/0, true/false, yes/no, on/off."""
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidOptionError(f"{name} must be true or false; got {raw[:40]!r}")


def parse_color(raw: str | None) -> Rgba | None:
    """`RRGGBB` or `RRGGBBAA` hex (a leading # is allowed) to an RGBA tuple."""
    if raw is None or not raw.strip():
        return None
    match = _HEX_COLOR.fullmatch(raw.strip())
    if match is None:
        raise InvalidOptionError(f"bg_color must be RRGGBB or RRGGBBAA hex; got {raw[:40]!r}")
    digits = match.group(1)
    if len(digits) == 6:
        digits += "ff"
    r, g, b, a = (int(digits[i : i + 2], 16) for i in range(0, 8, 2))
    return (r, g, b, a)


def parse_margin(raw: str | int | None) -> int:
    """A crop margin in pixels, 0 to MAX_CROP_MARGIN."""
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidOptionError(
            f"crop_margin must be a whole number; got {str(raw)[:40]!r}"
        ) from None
    if not 0 <= value <= MAX_CROP_MARGIN:
        raise InvalidOptionError(
            f"crop_margin must be between 0 and {MAX_CROP_MARGIN}; got {value}"
        )
    return value


@dataclass(frozen=True)
class RemoveOptions:
    """Canonical options: two requests that mean the same thing compare equal."""

    format: OutputFormat = OutputFormat.PNG
    mask: bool = False
    bg_color: Rgba | None = None
    crop: bool = False
    crop_margin: int = 0
    edges: Edges = Edges.SOFT

    @classmethod
    def parse(
        cls,
        *,
        format: str | None = None,
        mask: str | bool | None = None,
        bg_color: str | None = None,
        crop: str | bool | None = None,
        crop_margin: str | int | None = None,
        edges: str | None = None,
    ) -> RemoveOptions:
        """Validate raw (query-string) values and fold them into canonical form."""
        fmt = parse_format(format)
        want_mask = parse_bool("mask", mask)
        color = parse_color(bg_color)
        want_crop = parse_bool("crop", crop)
        margin = parse_margin(crop_margin)
        if margin and not want_crop:  # a margin without a crop would silently do nothing
            raise InvalidOptionError(
                f"crop_margin={margin} needs crop=true (--crop on the command line)"
            )
        if want_mask:
            color = None  # a mask has no background to colour
        elif fmt is OutputFormat.JPEG:
            # JPEG has no alpha: composite onto an opaque colour, white by default.
            r, g, b, _ = color or WHITE
            color = (r, g, b, 255)
        return cls(
            format=fmt,
            mask=want_mask,
            bg_color=color,
            crop=want_crop,
            crop_margin=margin,
            edges=parse_edges(edges),
        )

    def canonical(self) -> str:
        """A stable text form, used in cache keys.

        Soft edges add nothing, so keys (and ETags) made before `edges` existed stay valid.
        """
        color = "" if self.bg_color is None else "{:02x}{:02x}{:02x}{:02x}".format(*self.bg_color)
        edges = "" if self.edges is Edges.SOFT else f";edges={self.edges.value}"
        return (
            f"format={self.format.value};mask={int(self.mask)};bg={color};"
            f"crop={int(self.crop)};margin={self.crop_margin}{edges}"
        )
