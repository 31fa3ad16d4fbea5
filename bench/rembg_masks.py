"""rembg's masks of some images: `python rembg_masks.py --model NAME --out DIR IMAGE...`.

Run by rembg's own interpreter (.bench/rembg-venv), so this file uses only the standard library
and rembg. For every image it writes DIR/<stem>.soft.png (remove(..., only_mask=True)) and
DIR/<stem>.sharp.png (the same with post_process_mask=True), with one session per model.
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
    from rembg import new_session, remove

    session = new_session(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for image in args.images:
        data = image.read_bytes()
        for edges, post_process in (("soft", False), ("sharp", True)):
            mask = remove(data, session=session, only_mask=True, post_process_mask=post_process)
            (args.out / f"{image.stem}.{edges}.png").write_bytes(mask)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
