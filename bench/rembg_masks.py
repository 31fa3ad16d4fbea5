"""rembg's masks of some images: `python rembg_masks.py --model NAME --out DIR IMAGE...`.

Run by rembg's own interpreter (.bench/rembg-venv), so this file imports only rembg and what
rembg itself depends on. For every image it writes DIR/<stem>.soft.png (remove(...,
only_mask=True), one session per model) and DIR/<stem>.sharp.png: that mask through
rembg.bg.post_process, which is what remove(..., post_process_mask=True) does to it, without
running the model a second time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args(argv)
    import numpy as np
    from PIL import Image
    from rembg import new_session, remove
    from rembg.bg import post_process

    session = new_session(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for image in args.images:
        with Image.open(image) as photo:
            mask = remove(photo, session=session, only_mask=True)
        mask.save(args.out / f"{image.stem}.soft.png")
        Image.fromarray(post_process(np.array(mask))).save(args.out / f"{image.stem}.sharp.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
