"""The `cutout` command: remove, serve, invoke, limits."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from handler.core.options import RemoveOptions
from handler.core.tiers import MemoryTier, smallest_tier_holding
from handler.errors import CutoutError
from handler.settings import KNOWN_MODELS, MODELS_ENV, Settings

if TYPE_CHECKING:
    from handler.serving.service import CutoutService

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
LAMBDA_ENV_DEFAULTS = {
    "AWS_LAMBDA_FUNCTION_NAME": "cutout-local",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# uvicorn's own limits for `cutout serve`, a backstop against connection floods: below them the
# app sheds with 503 + Retry-After (memory and time budgets); past 64 open connections uvicorn
# answers a plain 503 itself, and at most 128 connections wait to be accepted.
SERVE_LIMIT_CONCURRENCY = 64
SERVE_BACKLOG = 128
SERVE_KEEP_ALIVE_S = 5


class CliError(Exception):
    """A one-line failure for the user."""


def fail_line(name: str, reason: str) -> str:
    return f"cutout: {name}: {reason}"


def collect_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given; folders expand to the image files directly inside them, sorted."""
    found: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file()
                    and p.suffix.lower() in IMAGE_SUFFIXES
                    and not p.name.startswith(".")
                )
            )
        else:
            found.append(path)
    return found


def plan_outputs(
    inputs: list[Path], out: str | None, batch: bool, extension: str
) -> list[tuple[Path, Path | None]]:
    """Pair each input with where its result goes (None: standard output)."""
    if not batch:
        source = inputs[0]
        if out == "-":
            return [(source, None)]
        target = Path(out) if out else source.with_name(f"{source.stem}.cutout.{extension}")
        if target.is_dir():
            target = target / f"{source.stem}.{extension}"
        return [(source, target)]
    folder = Path(out or "cutouts")
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder}: with several inputs or a folder, -o must be a folder")
    return [(source, folder / f"{source.stem}.{extension}") for source in inputs]


class Progress:
    """A one-line progress bar on stderr for batches."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled, self.done = total, stream, enabled, 0

    def step(self, name: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {name[:40]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(data)
    partial.replace(target)


def load_asked_model(name: str | None) -> None:
    """`--model`: make sure the process loads it. Like `invoke`, the CLI plays the deployment:
    it adds the model to CUTOUT_MODELS (only it, when unset) before handler.runtime is imported;
    the configured default, and CUTOUT_MODEL_PATH with it, stay as they are."""
    if name is None:
        return
    if name not in KNOWN_MODELS:
        raise CliError(f"--model must be one of {', '.join(KNOWN_MODELS)}; got {name!r}")
    configured = [m.strip().lower() for m in os.environ.get(MODELS_ENV, "").split(",") if m.strip()]
    if name not in configured:
        os.environ[MODELS_ENV] = ",".join([*configured, name])


def run_remove(args: argparse.Namespace, service_factory: Callable[[], CutoutService]) -> int:
    model = args.model.strip().lower() if args.model else None
    load_asked_model(model)
    options = RemoveOptions.parse(
        format=args.format,
        mask=args.mask,
        bg_color=args.bg_color,
        crop=args.crop,
        crop_margin=args.crop_margin,
        edges=args.edges,
    )
    inputs = collect_inputs(args.inputs)
    batch = len(args.inputs) > 1 or any(Path(i).is_dir() for i in args.inputs)
    if not inputs:
        raise CliError("no image files found in the given inputs")
    extension = "png" if options.mask and args.format is None else options.format.extension
    plan = plan_outputs(inputs, args.out, batch, extension)
    service = service_factory()
    failures = 0
    seen: dict[Path, Path] = {}
    progress = Progress(len(plan), sys.stderr, enabled=batch)
    service.model_for(model)  # one line for a model the configuration cannot serve
    for source, target in plan:
        reason = _remove_one(service, options, model, source, target, seen)
        if reason is not None:
            failures += 1
            if batch and progress.enabled:
                sys.stderr.write("\r")
            print(fail_line(str(source), reason), file=sys.stderr)
        progress.step(source.name)
    return 1 if failures else 0


def _remove_one(
    service: CutoutService,
    options: RemoveOptions,
    model: str | None,
    source: Path,
    target: Path | None,
    seen: dict[Path, Path],
) -> str | None:
    """Process one input; the reason it failed, or None."""
    if target is not None:
        resolved = target.resolve()
        if resolved == source.resolve():
            return "refusing to overwrite the input with its result (choose -o)"
        if resolved in seen:
            return f"its result {target} would overwrite that of {seen[resolved]}"
        seen[resolved] = source
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a folder"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    try:
        outcome = service.remove(data, options, model=model)
    except CutoutError as exc:
        return f"{exc.message} [{exc.code}]"
    if target is None:
        sys.stdout.buffer.write(outcome.data)
        sys.stdout.buffer.flush()
    else:
        write_atomically(target, outcome.data)
    return None


def default_service() -> CutoutService:
    from handler import runtime

    return runtime.service


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise CliError("`cutout serve` needs uvicorn: pip install 'cutout[serve]'") from None
    from handler.app import app

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        limit_concurrency=SERVE_LIMIT_CONCURRENCY,
        backlog=SERVE_BACKLOG,
        timeout_keep_alive=SERVE_KEEP_ALIVE_S,
    )
    return 0


def load_handler(dotted: str) -> Callable[[Any, Any], Any]:
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise CliError(f"--handler must be module.function, got {dotted!r}")
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"cannot load handler {dotted}: {exc}") from None
    if not callable(function):
        raise CliError(f"{dotted} is not callable")
    return function  # type: ignore[no-any-return]


def run_invoke(args: argparse.Namespace) -> int:
    from handler.aws.lambda_context import LocalLambdaContext

    try:
        event = json.loads(Path(args.event).read_text())
    except OSError as exc:
        raise CliError(f"{args.event}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{args.event}: not JSON ({exc.msg} at line {exc.lineno})") from None
    # `invoke` plays the Lambda runtime: it sets (never reads) the variables Lambda would set,
    # before the handler module is imported; all reading still goes through Settings.
    for name, value in LAMBDA_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = Settings.from_env()
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(settings.memory_mb))
    handler = load_handler(args.handler)
    errors = 0
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout
        if args.out not in (None, "-"):
            out = stack.enter_context(Path(args.out).open("w"))
        for _ in range(args.repeat):
            context = LocalLambdaContext(memory_limit_in_mb=settings.memory_mb)
            try:
                result = handler(event, context)
            except Exception as exc:  # report as the Lambda runtime does, then carry on
                errors += 1
                result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            out.write(json.dumps(result, default=str) + "\n")
            out.flush()
    return 1 if errors else 0


def run_limits(args: argparse.Namespace) -> int:
    """The caps for the configured models together, and for each model alone."""
    settings = Settings.from_env()
    tier = MemoryTier.for_memory(settings.memory_mb, settings.session_profile, settings.models)
    limits: dict[str, Any] = dict(tier.as_dict())
    limits["memory_source"] = (
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" if settings.memory_from_env else "default"
    )
    limits["default_model"] = settings.models[0]
    limits["holds_models"] = tier.holds_models
    per_model: dict[str, Any] = {}
    for name in KNOWN_MODELS:
        alone = MemoryTier.for_memory(settings.memory_mb, settings.session_profile, (name,))
        per_model[name] = {
            "session_profile": alone.profile,
            "max_pixels": alone.max_pixels,
            "max_megapixels": round(alone.max_pixels / 1e6, 1),
            "max_input_bytes": alone.max_input_bytes,
            "holds": alone.holds_models,
            "smallest_tier_mb": smallest_tier_holding((name,), settings.session_profile),
        }
    limits["per_model"] = per_model
    print(json.dumps(limits, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutout", description="Remove image backgrounds with U2-Net."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    remove = sub.add_parser("remove", help="cut out images (files or folders)")
    remove.add_argument("inputs", nargs="+", metavar="INPUT")
    remove.add_argument("-o", "--out", help="output file, '-' for stdout, or a folder for batches")
    remove.add_argument(
        "--model",
        metavar="NAME",
        help=f"{' or '.join(KNOWN_MODELS)} (default: the first of CUTOUT_MODELS, else u2netp)",
    )
    remove.add_argument("--format", choices=["png", "webp", "jpeg", "jpg"])
    remove.add_argument("--mask", action="store_true", help="write the mask alone")
    remove.add_argument("--bg-color", metavar="RRGGBB[AA]", help="background colour")
    remove.add_argument("--crop", action="store_true", help="crop to the subject")
    remove.add_argument("--crop-margin", type=int, default=0, metavar="PX")
    remove.add_argument(
        "--edges",
        choices=["soft", "sharp"],
        help="soft (default): the model's mask; sharp: hard edges, as rembg's post_process_mask",
    )

    serve = sub.add_parser("serve", help="run the HTTP API locally")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    invoke = sub.add_parser("invoke", help="run a Lambda handler on an event file")
    invoke.add_argument("event", metavar="EVENT.json")
    invoke.add_argument("--handler", default="handler.app.lambda_handler")
    invoke.add_argument("--repeat", type=_positive, default=1, metavar="N")
    invoke.add_argument(
        "--out", metavar="FILE", help="JSON lines of return values (default stdout)"
    )

    sub.add_parser("limits", help="print this memory tier's caps (per model) as JSON")
    return parser


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "remove": lambda a: run_remove(a, default_service),
        "serve": run_serve,
        "invoke": run_invoke,
        "limits": run_limits,
    }
    started = time.perf_counter()
    try:
        return commands[args.command](args)
    except (CliError, CutoutError) as exc:
        message = exc.message if isinstance(exc, CutoutError) else str(exc)
        print(f"cutout: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cutout: interrupted after {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
