"""Composition: the full-size mask, then a cutout, a coloured background or the mask alone."""

from __future__ import annotations

from PIL import Image, ImageChops

from handler.options import RemoveOptions, Rgba

# Mask values at or below this count as background when finding the subject's bounding box.
CROP_THRESHOLD = 10


def upscale_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The 320x320 mask at the image's size (LANCZOS, as rembg)."""
    return mask.resize(size, Image.Resampling.LANCZOS)


def subject_box(
    mask: Image.Image, margin: int, threshold: int = CROP_THRESHOLD
) -> tuple[int, int, int, int] | None:
    """Bounding box of the subject plus a margin, clamped to the image; None if no subject."""
    box = mask.point(lambda v: 255 if v > threshold else 0).getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    width, height = mask.size
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(width, right + margin),
        min(height, bottom + margin),
    )


def naive_cutout(image: Image.Image, mask: Image.Image) -> Image.Image:
    """RGBA with the mask as alpha and colour blended towards transparent black (rembg's)."""
    empty = Image.new("RGBA", image.size, 0)
    return Image.composite(image, empty, mask)


def on_background(image: Image.Image, mask: Image.Image, color: Rgba) -> Image.Image:
    """The subject over a solid colour: RGB when the colour is opaque, else RGBA."""
    if color[3] == 255:
        background = Image.new("RGB", image.size, color[:3])
        return Image.composite(image.convert("RGB"), background, mask)
    subject = image.convert("RGBA")
    subject.putalpha(mask)
    return Image.alpha_composite(Image.new("RGBA", image.size, color), subject)


def compose(image: Image.Image, mask: Image.Image, options: RemoveOptions) -> Image.Image:
    """Cut an RGB/RGBA image out with its full-size mask: crop, then colour or transparency."""
    if image.mode == "RGBA":
        # The input's own transparency stays transparent in the cutout.
        mask = ImageChops.multiply(mask, image.getchannel("A"))
    if options.crop:
        box = subject_box(mask, options.crop_margin)
        if box is not None:
            mask = mask.crop(box)
            image = image.crop(box)
    if options.bg_color is not None:
        return on_background(image, mask, options.bg_color)
    return naive_cutout(image, mask)
