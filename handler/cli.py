"""The `cutout` command: remove, serve, invoke, limits."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from handler import INIT_STARTED, __version__
from handler.core.options import RemoveOptions
from handler.core.tiers import MemoryTier, smallest_tier_holding
from handler.errors import ConfigurationError, CutoutError
from handler.settings import KNOWN_MODELS, Settings, also_load_model, play_lambda

if TYPE_CHECKING:
    from handler.serving.service import CutoutService

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
# `cutout invoke` without --handler: API events go to the API handler, S3 notifications (direct
# or in SQS messages) to the trigger. handler.trigger is the trigger's own light module where it
# exists; handler.app.s3_handler is the alias that always works.
API_HANDLER = "handler.app.lambda_handler"
S3_HANDLERS = ("handler.trigger.s3_handler", "handler.app.s3_handler")


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
    if out == "-" and batch:
        raise CliError(
            "-o - (standard output) holds one result: give one input file, or a folder for -o"
        )
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
    """A one-line progress bar on stderr for batches, redrawn only on a terminal; elsewhere
    (logs, pipes) one summary line at the end."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.done, self.failed = total, stream, 0, 0
        self.enabled = enabled and stream.isatty()
        self.summary = enabled and not self.enabled

    def step(self, name: str, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        if self.summary and self.done == self.total:
            self.stream.write(f"{self.done}/{self.total} done, {self.failed} failed\n")
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
    also_load_model(name)


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
    if args.no_cache:
        from handler.serving.cache import NoCache

        service = service.with_cache(NoCache())
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
        progress.step(source.name, failed=reason is not None)
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


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket for `cutout serve`, so that the ready line is only printed once the
    address is really ours (and a taken port is a one-line error)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def ready_line(host: str, port: int) -> str:
    """What `cutout serve` is: its address, model, tier and cache."""
    from handler import runtime

    settings, service = runtime.settings, runtime.service
    shown = f"[{host}]" if ":" in host else host
    cache = service.cache.name
    if settings.cache_bucket:
        cache = f"s3://{settings.cache_bucket}"
    elif cache == "local" and settings.cache_dir is not None:
        cache = f"{settings.cache_dir} (up to {settings.cache_max_mb} MB)"
    return (
        f"cutout {__version__} ready in {time.perf_counter() - INIT_STARTED:.1f} s on "
        f"http://{shown}:{port} (docs at /docs): "
        f"model {service.model.model_id}, {service.tier.memory_mb} MB tier "
        f"({service.tier.profile} profile, {service.tier.max_pixels / 1e6:.0f} MP cap), "
        f"cache {cache}"
    )


def run_serve(args: argparse.Namespace) -> int:
    try:
        from handler.http.server import BACKLOG, serve
    except ImportError:
        raise CliError("`cutout serve` needs uvicorn: pip install 'cutout[serve]'") from None
    from handler.aws.observability import logger, use_readable_logs

    readable = args.log_format == "text" or (args.log_format == "auto" and sys.stdout.isatty())
    if readable:  # before the app's import, whose init line is then readable too
        use_readable_logs()
    from handler.app import app

    listener = listen(args.host, args.port, BACKLOG)
    line = ready_line(args.host, args.port)
    if readable:
        print(line, flush=True)
    else:
        logger.info(line, extra={"host": args.host, "port": args.port})
    # Read deadlines, an in-flight limit with a JSON 503: handler/http/server.py.
    serve(app, listener)
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


def read_event(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None


def handler_for(event: Any) -> str:
    """The handler an event is meant for: S3 notifications (direct or in SQS messages) go to the
    trigger, everything else to the API handler."""
    records = event.get("Records") if isinstance(event, dict) else None
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, dict) and first.get("eventSource") in ("aws:s3", "aws:sqs"):
        for dotted in S3_HANDLERS:
            module_name = dotted.rpartition(".")[0]
            if importlib.util.find_spec(module_name) is not None:
                return dotted
    return API_HANDLER


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool) -> Iterator[TextIO]:
    """While enabled, everything written to standard output (the handler's logs and EMF, even
    from streams bound at import) goes to standard error; yields a stream on the real stdout."""
    try:
        fd = sys.stdout.fileno() if enabled else -1
    except (AttributeError, OSError, ValueError):  # a replaced stdout (tests): leave it
        fd = -1
    if fd < 0:
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    try:
        with os.fdopen(os.dup(saved), "w") as results:
            yield results
            results.flush()
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


def run_invoke(args: argparse.Namespace) -> int:
    from handler.aws.lambda_context import LocalLambdaContext

    events = [(path, read_event(path)) for path in args.events]
    # `invoke` plays the Lambda runtime: the variables Lambda would set, before the handler
    # module is imported (handler/settings.py does it, as it does all reading).
    settings = play_lambda()
    errors = 0
    to_stdout = args.out in (None, "-")
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout_to_stderr(to_stdout))
        # Loaded inside: importing a handler module is Lambda's init, which logs too.
        handlers = {path: load_handler(args.handler or handler_for(e)) for path, e in events}
        if not to_stdout:
            out = stack.enter_context(Path(args.out).open("w"))
        for path, event in events:
            for _ in range(args.repeat):
                context = LocalLambdaContext(memory_limit_in_mb=settings.memory_mb)
                try:
                    result = handlers[path](event, context)
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
        prog="cutout",
        description="Remove image backgrounds with U2-Net (u2netp) on ONNX Runtime.",
        epilog="Settings come from the environment (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "
        "CUTOUT_CACHE_DIR, CUTOUT_THREADS, ...): see the README's Configuration section.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    remove = sub.add_parser(
        "remove",
        help="cut out images (files or folders)",
        description="Cut out images. One file: the result goes next to it as "
        "<stem>.cutout.<ext>, or to -o FILE, or to standard output with -o -. Several inputs "
        "or a folder: -o is a folder (default ./cutouts) and results are named <stem>.<ext>. "
        "Results are cached by content (CUTOUT_CACHE_DIR, at most CUTOUT_CACHE_MAX_MB).",
    )
    remove.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, or folders (their JPEG, PNG, WebP, GIF, BMP and TIFF files)",
    )
    remove.add_argument(
        "-o",
        "--out",
        metavar="OUT",
        help="output file, '-' for standard output (one input only), or a folder for batches "
        "(default: <stem>.cutout.<ext> next to one input; ./cutouts for batches)",
    )
    remove.add_argument(
        "--model",
        metavar="NAME",
        help=f"{' or '.join(KNOWN_MODELS)} (default: the first of CUTOUT_MODELS, else u2netp)",
    )
    remove.add_argument(
        "--format",
        choices=["png", "webp", "jpeg", "jpg"],
        help="output format (default: png)",
    )
    remove.add_argument("--mask", action="store_true", help="write the 8-bit mask alone")
    remove.add_argument(
        "--bg-color",
        metavar="RRGGBB[AA]",
        help="composite onto this colour (default: transparent; white for jpeg)",
    )
    remove.add_argument("--crop", action="store_true", help="crop to the subject")
    remove.add_argument(
        "--crop-margin",
        type=int,
        default=0,
        metavar="PX",
        help="with --crop, pixels kept around the subject, 0-10000 (default: 0)",
    )
    remove.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the local result cache",
    )
    remove.add_argument(
        "--edges",
        choices=["soft", "sharp"],
        help="soft (default): the model's mask; sharp: hard edges, as rembg's post_process_mask",
    )

    serve = sub.add_parser(
        "serve",
        help="run the HTTP API locally",
        description="Serve the same FastAPI app as in Lambda (OpenAPI docs at /docs).",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    serve.add_argument(
        "--log-format",
        choices=["auto", "text", "json"],
        default="auto",
        help="text: one readable line per request; json: the JSON logs and EMF metrics "
        "Lambda writes (default: auto, text on a terminal)",
    )

    invoke = sub.add_parser(
        "invoke",
        help="run a Lambda handler on event files",
        description="The Lambda lifecycle in one process: module init once, then each event "
        "--repeat times with a Lambda context object. Each return value is one JSON line.",
    )
    invoke.add_argument("events", nargs="+", metavar="EVENT.json", help="Lambda event files")
    invoke.add_argument(
        "--handler",
        help=f"module.function (default: from the event: S3 or SQS records go to "
        f"{S3_HANDLERS[0]}, or {S3_HANDLERS[1]} where that module does not exist; anything "
        f"else to {API_HANDLER})",
    )
    invoke.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="N",
        help="invocations per event (default: 1)",
    )
    invoke.add_argument(
        "--out",
        metavar="FILE",
        help="write return values here, logs and EMF stay on stdout as in Lambda (default: "
        "return values on stdout, logs and EMF on stderr)",
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
        status = commands[args.command](args)
        sys.stdout.flush()  # inside the try: a closed pipe is reported below, not at exit
        return status
    except (CliError, CutoutError, ConfigurationError) as exc:
        message = exc.message if isinstance(exc, CutoutError) else str(exc)
        print(f"cutout: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`cutout limits | head -3`): stop quietly, as a shell tool does.
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except KeyboardInterrupt:
        print(f"cutout: interrupted after {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
