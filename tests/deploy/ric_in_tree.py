"""Lambda's runtime interface client inside a deployment tree, as the image's entry point runs it.

Started by tests/deploy as `python -I -S ric_in_tree.py --path TASK_ROOT --path RUNTIME --report
OUT HANDLER`: -I and -S leave the standard library alone on sys.path, then the --path folders go
first (as the base image puts /var/task and /var/runtime). awslambdaric then runs the init phase
and the invoke loop against AWS_LAMBDA_RUNTIME_API. When the process ends (SIGTERM once every
event is answered, or an exit after an init error), OUT receives the modules loaded from outside
those folders and the stdlib, and the interpreter's version. Only the standard library is
imported here.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import sys
import sysconfig
from pathlib import Path


def outside_modules(roots: list[Path]) -> list[str]:
    """Loaded modules whose file is under none of roots (nor the standard library)."""
    allowed = [*roots, Path(sysconfig.get_path("stdlib")), Path(sysconfig.get_path("platstdlib"))]
    allowed = [root.resolve() for root in allowed]
    outside = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path == Path(__file__).resolve():  # this script (as __main__)
            continue
        if not any(path.is_relative_to(root) for root in allowed):
            outside.append(f"{name}: {path}")
    return sorted(outside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", action="append", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("handler", help="module.function")
    args = parser.parse_args()

    sys.path[:0] = [str(path) for path in args.path]

    def report() -> None:
        loaded = {
            "outside": outside_modules(args.path),
            "python": list(sys.version_info[:2]),
            "fastapi_loaded": "fastapi" in sys.modules,
        }
        args.report.write_text(json.dumps(loaded))

    def on_sigterm(signum: int, frame: object) -> None:
        report()
        os._exit(0)  # the runtime's polling thread is blocked in C: no orderly shutdown

    atexit.register(report)
    signal.signal(signal.SIGTERM, on_sigterm)
    from awslambdaric.__main__ import main as run_runtime

    run_runtime([sys.argv[0], args.handler])


if __name__ == "__main__":
    main()
