"""No growth: the RSS of one warm Lambda process over many API invocations of mixed sizes.

Runs N invocations of handler.app.lambda_handler in this process, as a warm Lambda container
does, each with an API Gateway REST (v1) event shaped like events/api-v1.json carrying one of
30 different image bodies (JPEG and PNG, 0.08 to 4 MP) with different options (png, webp,
jpeg, mask, crop, background colour), in a fixed cycle. The result cache is off, so every
invocation runs the whole pipeline. Reports RSS after the reference invocation (the 50th)
and after the last; the goal is the last within 3 % of the reference. RSS right after an
invocation depends on what that invocation did, so with the defaults both are the same
kind of request (500 - 50 is a whole number of cycles); the medians over a cycle around
each point are reported too.

    .venv/bin/python bench/growth.py [--invocations 500] [--reference 50] [--small]
                                     [--json FILE]

The handler logs and prints its metrics to stdout, as in Lambda; the report goes to stderr.
--small uses images up to 0.3 MP (the short version the tests run).
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
SIZES = [(320, 240), (800, 600), (1600, 1200), (1224, 1632), (2400, 1800), (640, 2000)]
SMALL_SIZES = [(160, 120), (320, 240), (480, 360), (240, 500), (640, 480)]
QUERIES: list[dict[str, str]] = [
    {"format": "png"},
    {"format": "webp"},
    {"format": "jpeg", "bg_color": "ffffff"},
    {"mask": "true"},
    {"format": "png", "crop": "true", "crop_margin": "8"},
    {"format": "png", "bg_color": "3366ff80"},
    {},
]


def picture(width: int, height: int, seed: int) -> Image.Image:
    """A subject (an ellipse) on a graded background, with grain: every seed differs."""
    rng = np.random.default_rng(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65)
    rx, ry = width * rng.uniform(0.15, 0.3), height * rng.uniform(0.15, 0.3)
    fill = tuple(int(v) for v in rng.integers(30, 230, 3))
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
    pixels = np.asarray(image).astype(np.int16)
    pixels += rng.integers(-8, 9, size=pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


CYCLE = 30


def image_pool(small: bool, count: int = CYCLE) -> list[tuple[bytes, str]]:
    """Distinct encoded images and their content types."""
    sizes = SMALL_SIZES if small else SIZES
    pool = []
    for i in range(count):
        width, height = sizes[i % len(sizes)]
        out = io.BytesIO()
        if i % 3 == 2:
            picture(width, height, seed=i).save(out, "PNG", compress_level=1)
            pool.append((out.getvalue(), "image/png"))
        else:
            picture(width, height, seed=i).save(out, "JPEG", quality=88)
            pool.append((out.getvalue(), "image/jpeg"))
    return pool


def api_event(template: dict[str, Any], body: bytes, content_type: str, query: dict[str, str]):
    """An API Gateway REST (v1) proxy event with this body and query string."""
    event = copy.deepcopy(template)
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    for headers, wrap in ((event["headers"], str), (event["multiValueHeaders"], lambda v: [v])):
        headers["Content-Type"] = wrap(content_type)
        headers["Content-Length"] = wrap(str(len(body)))
    event["queryStringParameters"] = dict(query) or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def rss_mb() -> float:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def run(invocations: int, reference: int, small: bool) -> dict[str, Any]:
    os.environ["CUTOUT_CACHE_DIR"] = ""  # every invocation runs the pipeline
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "cutout-growth")
    # No Lambda response limit here: every invocation answers its image inline.
    os.environ.setdefault("CUTOUT_INLINE_LIMIT_BYTES", str(64 * MIB))
    from handler.app import lambda_handler
    from handler.aws.lambda_context import LocalLambdaContext

    template = json.loads((REPO / "events" / "api-v1.json").read_text())
    pool = image_pool(small)
    statuses: dict[int, int] = {}
    samples: list[float] = []
    started = time.perf_counter()
    for n in range(1, invocations + 1):
        body, content_type = pool[n % CYCLE]
        event = api_event(template, body, content_type, QUERIES[n % CYCLE % len(QUERIES)])
        response = lambda_handler(event, LocalLambdaContext(memory_limit_in_mb=2048))
        statuses[response["statusCode"]] = statuses.get(response["statusCode"], 0) + 1
        del event, response
        samples.append(rss_mb())
    at_reference, at_last = samples[reference - 1], samples[-1]

    def median_around(index: int) -> float:
        window = samples[max(0, index - CYCLE // 2) : index + CYCLE // 2]
        return round(statistics.median(window), 1)

    return {
        "invocations": invocations,
        "reference": reference,
        "rss_reference_mb": round(at_reference, 1),
        "rss_last_mb": round(at_last, 1),
        "rss_max_mb": round(max(samples), 1),
        "rss_median_near_reference_mb": median_around(reference - 1),
        "rss_median_of_last_cycle_mb": round(statistics.median(samples[-CYCLE:]), 1),
        "growth": round(at_last / at_reference - 1.0, 4),
        "statuses": statuses,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_every_50_mb": [round(samples[i], 1) for i in range(49, len(samples), 50)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=500)
    parser.add_argument("--reference", type=int, default=50)
    parser.add_argument("--small", action="store_true", help="images up to 0.3 MP")
    parser.add_argument("--json", metavar="FILE", help="also write the result here as JSON")
    args = parser.parse_args()
    if not 1 <= args.reference <= args.invocations:
        parser.error("--reference must be between 1 and --invocations")
    result = run(args.invocations, args.reference, args.small)
    if args.json:
        Path(args.json).write_text(json.dumps(result))
    report = sys.stderr
    print(
        f"{result['invocations']} invocations in {result['seconds']} s: {result['statuses']}",
        file=report,
    )
    print(f"RSS after #{args.reference}: {result['rss_reference_mb']} MiB", file=report)
    print(f"RSS after #{args.invocations}: {result['rss_last_mb']} MiB", file=report)
    print(
        f"growth: {result['growth']:+.2%} (goal within 3 %), max {result['rss_max_mb']} MiB",
        file=report,
    )
    print(
        f"median RSS near #{args.reference}: {result['rss_median_near_reference_mb']} MiB, "
        f"over the last {CYCLE}: {result['rss_median_of_last_cycle_mb']} MiB",
        file=report,
    )
    print(f"RSS every 50: {result['rss_every_50_mb']}", file=report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
