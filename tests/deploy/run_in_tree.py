"""Invoke one Lambda handler on events inside a deployment tree, as Lambda's bootstrap would.

Started by tests/deploy as `python -I -S run_in_tree.py ...`: -I ignores PYTHON* variables, the
user's site-packages and this script's own folder; -S skips site-packages. So before the --path
folders are put first on sys.path (as Lambda puts /var/task and /opt/python), the interpreter sees
the standard library and nothing else. The handler's module is imported once (the init phase), then
called on each event in turn with a Lambda context. Only the standard library is imported here.

Writes JSON to --out: the responses, and any module loaded from outside the tree and the stdlib.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
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
        if path == Path(__file__).resolve():  # this script (as __main__, and __mp_main__)
            continue
        if not any(path.is_relative_to(root) for root in allowed):
            outside.append(f"{name}: {path}")
    return sorted(outside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", action="append", type=Path, required=True)
    parser.add_argument("--handler", required=True, help="module.function")
    parser.add_argument("--event", action="append", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    sys.path[:0] = [str(path) for path in args.path]
    module_name, _, function_name = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    from handler.aws.lambda_context import LocalLambdaContext

    responses = []
    for event_path in args.event:
        context = LocalLambdaContext(
            function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
        )
        responses.append(handler(json.loads(event_path.read_text()), context))
    report = {
        "responses": responses,
        "outside": outside_modules(args.path),
        "python": list(sys.version_info[:2]),
    }
    args.out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
