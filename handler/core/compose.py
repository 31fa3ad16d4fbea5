"""Composition: the full-size mask, then a cutout, a coloured background or the mask alone.

`compose` works in place on the decoded image, one horizontal strip at a time, so a cutout
costs the decoded image plus its mask and one strip, not two or three more full-size copies.
A coloured background goes strip by strip through the same whole-image function
(`on_background`) a simple version would call on the whole picture; a cutout is rembg's
`naive_cutout` (`Image.composite` over transparent black) done by pasting in place. Both work
pixel by pixel, so the result is the same to the last bit (tests/unit/test_strips.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageChops

from handler.core.options import RemoveOptions, Rgba
from handler.core.strips import Box, strips

# Mask values at or below this count as background when finding the subject's bounding box.
CROP_THRESHOLD = 10
# A point() table: each mask value to 255 minus it.
INVERTED = [255 - value for value in range(256)]


def upscale_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The 320x320 mask at the image's size (LANCZOS, as rembg).

    One whole-image resize: resizing strips with a source box is not bit-identical to it, and
    neither is resizing bands one pass at a time, since Pillow chooses which pass comes first.
    """
    return mask.resize(size, Image.Resampling.LANCZOS)


def effective_mask(mask: Image.Image, image: Image.Image) -> Image.Image:
    """The mask with the input's own transparency multiplied in (for RGBA images)."""
    if image.mode != "RGBA":
        return mask
    return ImageChops.multiply(mask, image.getchannel("A"))


def subject_box(
    mask: Image.Image,
    margin: int,
    threshold: int = CROP_THRESHOLD,
    *,
    image: Image.Image | None = None,
    rows: int | None = None,
) -> Box | None:
    """Bounding box of the subject plus a margin, clamped to the image; None if no subject.

    With `image`, its own alpha counts too (as in `effective_mask`). Works strip by strip.
    """
    table = [255 if v > threshold else 0 for v in range(256)]
    found: list[Box] = []
    for box in strips(mask.size, rows=rows):
        part = mask.crop(box)
        if image is not None:
            part = effective_mask(part, image.crop(box))
        inside = part.point(table).getbbox()
        if inside is not None:
            found.append((inside[0], box[1] + inside[1], inside[2], box[1] + inside[3]))
    if not found:
        return None
    width, height = mask.size
    return (
        max(0, min(b[0] for b in found) - margin),
        max(0, min(b[1] for b in found) - margin),
        min(width, max(b[2] for b in found) + margin),
        min(height, max(b[3] for b in found) + margin),
    )


def on_background(image: Image.Image, mask: Image.Image, color: Rgba) -> Image.Image:
    """The subject over a solid colour: RGB when the colour is opaque, else RGBA.

    `mask` is the effective mask (see `effective_mask`).
    """
    if color[3] == 255:
        background = Image.new("RGB", image.size, color[:3])
        return Image.composite(image.convert("RGB"), background, mask)
    subject = image.convert("RGBA")
    subject.putalpha(mask)
    return Image.alpha_composite(Image.new("RGBA", image.size, color), subject)


def crop_box(
    image: Image.Image, mask: Image.Image, options: RemoveOptions, *, rows: int | None = None
) -> Box | None:
    """Where to crop for these options: None unless asked and smaller than the image.

    Callers that hold the only reference to a large image crop it themselves with this box
    before compose() (the mask first), so the uncropped image is freed as the crop is made.
    """
    if not options.crop:
        return None
    alpha_source = image if image.mode == "RGBA" else None
    box = subject_box(mask, options.crop_margin, image=alpha_source, rows=rows)
    return None if box is None or box == (0, 0, *image.size) else box


def compose(
    image: Image.Image,
    mask: Image.Image,
    options: RemoveOptions,
    *,
    rows: int | None = None,
    threads: int = 1,
) -> Image.Image:
    """Cut an RGB/RGBA image out with its full-size mask: crop, then colour or transparency.

    Consumes `image`: the result is `image` itself changed in place (or a crop of it), except
    for an RGBA image on an opaque colour, whose RGB result is a new image. `rows` sets the
    strip height (tests use it to reach awkward sizes); a cutout's strips may use `threads`
    cores.
    """
    box = crop_box(image, mask, options, rows=rows)
    if box is not None:
        image, mask = image.crop(box), mask.crop(box)
    color = options.bg_color
    if color is not None and color[3] == 255 and image.mode == "RGBA":
        return _opaque_from_rgba(image, mask, color, rows)
    if image.mode == "RGB" and (color is None or color[3] != 255):
        image.putalpha(255)  # RGB to RGBA in place: Pillow keeps RGB in four bytes a pixel
    if color is None:
        return _cut_out(image, mask, rows, threads)
    for box in strips(image.size, rows=rows):
        part = image.crop(box)
        image.paste(on_background(part, effective_mask(mask.crop(box), part), color), box)
    return image


def _cut_out(image: Image.Image, mask: Image.Image, rows: int | None, threads: int) -> Image.Image:
    """rembg's `naive_cutout` in place on an RGBA image, its strips shared out over `threads`
    cores.

    Pasting through a mask m blends each band as out * (255 - m) / 255 + in * m / 255, rounded
    as Image.composite rounds, so pasting transparent black through 255 - mask leaves
    image * mask / 255 in every band, alpha included: Image.composite's result to the bit, with
    no copy of the strip and no new one to paste back (tests/unit/test_strips.py).
    """
    boxes = list(strips(image.size, rows=rows))
    first = boxes[0]
    clear = Image.new("RGBA", (first[2] - first[0], first[3] - first[1]), 0)

    def cut(box: Box) -> None:
        size = (box[2] - box[0], box[3] - box[1])
        source = clear if clear.size == size else clear.crop((0, 0, *size))
        image.paste(source, box, mask.crop(box).point(INVERTED))

    # The first strip before the others start: Pillow copies a read-only image (one made from
    # a buffer) on its first change, and threads racing to do that would each keep their own.
    cut(first)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(boxes) - 1))) as pool:
        for _ in pool.map(cut, boxes[1:]):
            pass
    return image


def _opaque_from_rgba(
    image: Image.Image, mask: Image.Image, color: Rgba, rows: int | None
) -> Image.Image:
    """An RGBA image on an opaque colour: a new RGB image (Pillow cannot drop alpha in place)."""
    out = Image.new("RGB", image.size)
    for box in strips(image.size, rows=rows):
        part = image.crop(box)
        out.paste(on_background(part, effective_mask(mask.crop(box), part), color), box)
    return out
