"""Coverage-guided fuzzing of admit + decode with atheris (run by `make fuzz`).

The same property as the Hypothesis test: any bytes give a decoded image within the caps, or
a 4xx CutoutError; admit never decodes pixels. libFuzzer's -rss_limit_mb turns a memory bomb
into a reported crash, -timeout a hang. Pillow's plugins and our code are instrumented.

    .venv/bin/python -m tests.hardening.fuzz_atheris -max_total_time=300 build/fuzz/corpus
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["PIL", "handler"]):
    from PIL import Image  # noqa: F401  (instrumented before anything else imports it)

    from tests.hardening import mutations


def write_seeds(folder: Path) -> None:
    """Start from the real files the mutations use (libFuzzer then mutates them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(mutations.seeds()):
        (folder / f"seed-{number:02d}").write_bytes(seed)


def one_input(data: bytes) -> None:
    mutations.admit_and_decode(data)


def main() -> None:
    corpora = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")]
    for folder in corpora:
        write_seeds(folder)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
