"""One tool in one process, driven by the benchmark: `python worker.py --tool cutout|rembg MODE`.

Run by each tool's own interpreter (cutout's or rembg's runtime-only venv), so this file uses
the standard library at the top level and imports the tool only inside its adapter.

Modes:
  serve         load the tool, then answer JSON-line requests on stdin (warm timings)
  peak IMAGE    load, process one image, report RSS after init and the process's peak RSS
  soak          N invocations over a list of images, RSS sampled after each one
  import        time the import of the tool (and, for rembg, making its u2netp session)
  first IMAGE   a Lambda-style cold start: import, session, one image, result written
  coldstart ENTRY IMAGE   the same, timed by phase (bench/cold_start.py): cutout's `api`
                (handler.app.lambda_handler, an API Gateway v1 event) or `s3` (handler.trigger
                with an in-memory S3 behind a real boto3 client); rembg's `remove`
  versions      the tool's version and those of onnxruntime, numpy and Pillow

Results are JSON on the original standard output; anything the tools print goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO, cast

MB = 1024 * 1024
EVENTS = Path(__file__).resolve().parent.parent / "events"
# The model both tools use: u2netp unless the bench runs its u2net part (bench/u2net.py); cutout
# reads CUTOUT_MODELS, which the bench sets to the same name.
MODEL = os.environ.get("BENCH_MODEL", "u2netp")


def rss_mb() -> float:
    """Current resident set size of this process, from /proc."""
    with Path("/proc/self/statm").open() as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CutoutTool:
    """cutout in-process: the service every entry point uses (no cache: every call works)."""

    name = "cutout"

    def __init__(self) -> None:
        from handler import runtime
        from handler.core.options import RemoveOptions

        self.service = runtime.service
        self.options = RemoveOptions.parse()
        self.stages: dict[str, float] = {}

    def remove(self, data: bytes) -> bytes:
        outcome = self.service.remove(data, self.options)
        self.stages = outcome.timings_ms  # decode, inference, compose, encode (the pipeline's own)
        return outcome.data

    def bare_feed(self, data: bytes) -> Any:
        from PIL import Image

        from handler.core.predict import model_input

        return model_input(Image.open(io.BytesIO(data)).convert("RGB"))

    def bare_run(self, feed: Any) -> None:
        model = self.service.model
        model.session.run(None, {model.input_name: feed})


class RembgTool:
    """rembg 2.0.86's remove() with one reused session (u2netp, or BENCH_MODEL), as its docs
    recommend."""

    name = "rembg"

    def __init__(self) -> None:
        from rembg import new_session, remove

        self._remove = remove
        self.session = new_session(MODEL)
        self.stages: dict[str, float] = {}

    def remove(self, data: bytes) -> bytes:
        result = self._remove(data, session=self.session)
        assert isinstance(result, bytes)
        return result

    def bare_feed(self, data: bytes) -> Any:
        from PIL import Image

        image = Image.open(io.BytesIO(data))
        return self.session.normalize(
            image, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (320, 320)
        )

    def bare_run(self, feed: Any) -> None:
        self.session.inner_session.run(None, feed)


TOOLS: dict[str, Callable[[], CutoutTool | RembgTool]] = {
    "cutout": CutoutTool,
    "rembg": RembgTool,
}


def reply(out: TextIO, payload: dict[str, Any]) -> None:
    out.write(json.dumps(payload) + "\n")
    out.flush()


def serve(tool_name: str, out: TextIO) -> None:
    """Answer {"op": "remove"|"bare", "path": ...} lines with the seconds one call took."""
    started = time.perf_counter()
    tool = TOOLS[tool_name]()
    reply(out, {"ready_s": time.perf_counter() - started, "rss_mb": rss_mb()})
    inputs: dict[str, bytes] = {}
    feeds: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        path = request["path"]
        if path not in inputs:
            inputs[path] = Path(path).read_bytes()
        if request["op"] == "remove":
            t0 = time.perf_counter()
            result = tool.remove(inputs[path])
            seconds = time.perf_counter() - t0
            reply(out, {"s": seconds, "out_bytes": len(result), "stages_ms": tool.stages})
        elif request["op"] == "bare":
            if path not in feeds:
                feeds[path] = tool.bare_feed(inputs[path])
            t0 = time.perf_counter()
            tool.bare_run(feeds[path])
            reply(out, {"s": time.perf_counter() - t0})
        else:
            raise SystemExit(f"unknown op {request['op']!r}")


def peak(tool_name: str, image: str, out: TextIO) -> None:
    data = Path(image).read_bytes()
    tool = TOOLS[tool_name]()
    init_mb = rss_mb()
    t0 = time.perf_counter()
    result = tool.remove(data)
    seconds = time.perf_counter() - t0
    reply(
        out,
        {
            "init_mb": init_mb,
            "peak_mb": peak_rss_mb(),
            "s": seconds,
            "out_bytes": len(result),
        },
    )


def api_event(template: dict[str, Any], body: bytes) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event like events/api-v1.json carrying this body."""
    event = copy.deepcopy(template)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    for headers in (event.get("headers") or {},):
        for key in list(headers):
            if key.lower() == "content-length":
                headers[key] = str(len(body))
    for key in list(event.get("multiValueHeaders") or {}):
        if key.lower() == "content-length":
            event["multiValueHeaders"][key] = [str(len(body))]
    return event


def soak_order(count: int, n: int, seed: int) -> list[int]:
    """Image indices for n invocations: every image equally often, in a shuffled order."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < n:
        block = list(range(count))
        rng.shuffle(block)
        order.extend(block)
    return order[:n]


def soak(tool_name: str, images: list[str], n: int, event_path: str | None, out: TextIO) -> None:
    """n invocations; for cutout through handler.app.lambda_handler, for rembg through remove()."""
    bodies = [Path(p).read_bytes() for p in images]
    order = soak_order(len(bodies), n, seed=7)
    started = time.perf_counter()
    call: Callable[[int], bool]
    if tool_name == "cutout":
        if event_path is None:
            raise SystemExit("soak for cutout needs --event")
        from handler.app import lambda_handler
        from handler.aws.lambda_context import LocalLambdaContext

        template = json.loads(Path(event_path).read_text())
        events = [api_event(template, body) for body in bodies]

        def call(i: int) -> bool:
            context = LocalLambdaContext(
                memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"))
            )
            response = lambda_handler(events[i], cast(Any, context))
            return bool(response.get("statusCode") == 200)
    else:
        tool = RembgTool()

        def call(i: int) -> bool:
            return bool(tool.remove(bodies[i]))

    init_mb = rss_mb()
    init_s = time.perf_counter() - started
    rss: list[float] = []
    seconds: list[float] = []
    failures = 0
    for i in order:
        t0 = time.perf_counter()
        failures += 0 if call(i) else 1
        seconds.append(time.perf_counter() - t0)
        rss.append(rss_mb())
    reply(
        out,
        {
            "init_s": init_s,
            "init_mb": init_mb,
            "rss_mb": rss,
            "s": seconds,
            "order": order,
            "peak_mb": peak_rss_mb(),
            "failures": failures,
        },
    )


def time_import(tool_name: str, out: TextIO) -> None:
    """Seconds to import the tool's entry module, and until a u2netp session is ready."""
    t0 = time.perf_counter()
    if tool_name == "cutout":
        import handler.app  # noqa: F401  (the Lambda entry module: its import makes the session)

        imported = ready = time.perf_counter()
    else:
        import rembg

        imported = time.perf_counter()
        rembg.new_session(MODEL)
        ready = time.perf_counter()
    reply(out, {"import_s": imported - t0, "ready_s": ready - t0, "rss_mb": rss_mb()})


def first(tool_name: str, image: str, target: str, out: TextIO) -> None:
    """Lambda-style: the tool's import and session, then one image written to target."""
    t0 = time.perf_counter()
    tool = TOOLS[tool_name]()
    Path(target).write_bytes(tool.remove(Path(image).read_bytes()))
    reply(out, {"s": time.perf_counter() - t0})


class MemoryS3:
    """The S3 calls the trigger makes, answered from memory: a cold start without the network."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"ContentLength": len(self.objects[Key]), "ETag": '"bench"', "Metadata": {}}

    def get_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.objects[Key] = Body
        return {}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.objects.pop(Key, None)
        return {}


def s3_event(key: str) -> dict[str, Any]:
    """An SQS batch of one S3 notification for `key`, as the template delivers uploads
    (events/sqs-s3.json with the object's key)."""
    event: dict[str, Any] = json.loads((EVENTS / "sqs-s3.json").read_text())
    record = event["Records"][0]
    notification = json.loads(record["body"])
    notification["Records"][0]["s3"]["object"]["key"] = key
    record["body"] = json.dumps(notification)
    event["Records"] = [record]
    return event


def coldstart(tool_name: str, entry: str, image: str, event_path: str, out: TextIO) -> None:
    """A fresh process's cold start by phase, in ms; done_ns is when the first answer was ready.

    cutout: its init clock (imports, session, warm-up, wiring), then the first invocation.
    rembg: import, new_session("u2netp"), then remove() of the same photo.
    """
    data = Path(image).read_bytes()
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    if tool_name == "rembg":
        import rembg

        t1 = time.perf_counter()
        session = rembg.new_session("u2netp")
        t2 = time.perf_counter()
        result = rembg.remove(data, session=session)
        t3 = time.perf_counter()
        ok = isinstance(result, bytes) and len(result) > 0
        phases = {"imports": t1 - t0, "session": t2 - t1, "first_run": t3 - t2}
        phases = {k: v * 1000 for k, v in phases.items()}
    else:
        from handler.aws.lambda_context import LocalLambdaContext

        context = cast(Any, LocalLambdaContext())
        if entry == "api":
            from handler import app, runtime

            t1 = time.perf_counter()
            event = api_event(json.loads(Path(event_path).read_text()), data)
            response = app.lambda_handler(event, context)
            ok = response.get("statusCode") == 200
        else:
            from handler import runtime, trigger
            from handler.aws.s3_client import s3_client

            t1 = time.perf_counter()
            s3_client()  # the real client is made (and its cost counted); the calls stay local
            store = MemoryS3({"uploads/photo.jpg": data})
            trigger.trigger.client_factory = lambda: store
            answer = trigger.s3_handler(s3_event("uploads/photo.jpg"), context)
            ok = answer == {"batchItemFailures": []} and "cutouts/photo.jpg.png" in store.objects
        t2 = time.perf_counter()
        phases = dict(runtime.init_clock.phases_ms)
        phases["first_run"] = (t2 - t1) * 1000
        phases["unaccounted_init"] = (t1 - t0) * 1000 - runtime.init_clock.total_ms()
    done_ns = time.time_ns()
    if not ok:
        raise SystemExit(f"{tool_name} {entry}: the first invocation failed")
    reply(out, {"phases_ms": phases, "done_ns": done_ns})


def versions(tool_name: str, out: TextIO) -> None:
    names = {"cutout": "cutout", "rembg": "rembg"}[tool_name]
    found: dict[str, str | None] = {}
    for dist in (names, "onnxruntime", "numpy", "pillow"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    reply(out, found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=sorted(TOOLS), required=True)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve")
    p = sub.add_parser("peak")
    p.add_argument("image")
    s = sub.add_parser("soak")
    s.add_argument("images", nargs="+")
    s.add_argument("-n", type=int, default=500)
    s.add_argument("--event")
    sub.add_parser("import")
    f = sub.add_parser("first")
    f.add_argument("image")
    f.add_argument("target")
    c = sub.add_parser("coldstart")
    c.add_argument("entry", choices=["api", "s3", "remove"])
    c.add_argument("image")
    c.add_argument("--event", default="")
    sub.add_parser("versions")
    args = parser.parse_args()

    # Keep the protocol channel clean: whatever the tools print lands on stderr instead.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    if args.mode == "serve":
        serve(args.tool, out)
    elif args.mode == "peak":
        peak(args.tool, args.image, out)
    elif args.mode == "soak":
        soak(args.tool, args.images, args.n, args.event, out)
    elif args.mode == "import":
        time_import(args.tool, out)
    elif args.mode == "first":
        first(args.tool, args.image, args.target, out)
    elif args.mode == "coldstart":
        coldstart(args.tool, args.entry, args.image, args.event, out)
    else:
        versions(args.tool, out)


if __name__ == "__main__":
    main()
