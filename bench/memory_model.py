"""The memory model: whole-process peak RSS against pixel count, for the real pipeline.

Every measurement is a fresh process (this script's `measure` command) that imports
handler.app as Lambda's init phase does, answers one small warm-up request (a warm container;
a cold one peaks lower), then reads one image and runs CutoutService.remove on it with the
result cache off; its peak is the kernel's high-water RSS for the whole process (VmHWM, what
ru_maxrss reports, except that ru_maxrss also keeps the parent's peak across fork+exec).
The parent makes the images, runs the children one at a time and fits the model that
handler/core/tiers.py keeps:

    peak_mb - input_mb = max(INFERENCE_PEAK_MB, BASE_MB + BYTES_PER_PIXEL * pixels / MiB)

The plateau is the peak for a 1 MP image (the model's working set dominates); the line is a
least-squares fit over the points above it, on the worst path at each size (the envelope of
every scenario except WebP output, which gets its own slope through the same base).

    .venv/bin/python bench/memory_model.py fit [--sizes 1,24,40,64,96] [--json FILE] [--model NAME]
    .venv/bin/python bench/memory_model.py tiers [--tiers 512,1024,2048] [--model NAME]
    .venv/bin/python bench/memory_model.py paths [--sizes 8,24] [--cold] [--json FILE]
    .venv/bin/python bench/memory_model.py path-tiers [--tiers 512,1024,2048]
    .venv/bin/python bench/memory_model.py rembg --rembg-python PATH [--runs 3]
    .venv/bin/python bench/memory_model.py bombs
    .venv/bin/python bench/memory_model.py concurrency [--memory-mb 1024] [--requests 8]

`tiers` runs the largest image each tier admits (per path) with AWS_LAMBDA_FUNCTION_MEMORY_SIZE
set and checks the peak against 90 % of the tier. The children load the models CUTOUT_MODELS
names (the parent's environment); `--model` is the one that draws the mask (default: the
first), and every loaded model runs once in the warm-up. `paths` measures every decoder path
(bench/decoder_paths.py: each input format and variant) and fits what decoding costs a pixel on
each (DECODE_BYTES_PER_PIXEL); `path-tiers` runs each at its own cap per tier, plain and padded
to the byte cap. `rembg` compares a 12 MP JPEG with rembg
2.0.86 run by another interpreter (its own virtual environment; set U2NET_HOME so it finds
its model). `bombs` compares an idle process with one refusing decompression bombs.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: bench.decoder_paths comes from the repository
    sys.path.insert(0, str(REPO))
PHOTO = REPO / "tests" / "fixtures" / "rembg" / "cloth-1.jpg"
MIB = 1024 * 1024
FIT_MEMORY_MB = 10240  # the tier the fit runs at: large enough that nothing is refused
ASPECT = 4 / 3


@dataclass(frozen=True)
class Scenario:
    """One path through the pipeline: what the input is and what is asked for."""

    name: str
    content: str  # photo | noise | alpha-noise | alpha-edge | flat-alpha
    container: str  # JPEG | PNG
    output: str  # png | webp | jpeg | mask
    variant: str = ""  # rotated | cmyk | padded[-rotated] (to the byte cap, `tiers` only)
    crop: bool = False
    bg_color: str | None = None

    @property
    def is_webp(self) -> bool:
        return self.output == "webp"


SCENARIOS = (
    Scenario("jpeg>png", "photo", "JPEG", "png"),
    Scenario("jpeg>webp", "photo", "JPEG", "webp"),
    Scenario("jpeg>jpeg", "photo", "JPEG", "jpeg"),
    Scenario("jpeg>mask", "photo", "JPEG", "mask"),
    Scenario("png>png", "photo", "PNG", "png"),
    Scenario("png>webp", "photo", "PNG", "webp"),
    Scenario("png>jpeg", "photo", "PNG", "jpeg"),
    Scenario("png>mask", "photo", "PNG", "mask"),
    # Stress paths: incompressible output, EXIF rotation, CMYK, transparency, crop.
    Scenario("noise-png>png", "noise", "PNG", "png"),
    Scenario("noise-png>png+crop", "noise", "PNG", "png", crop=True),
    Scenario("rotated-jpeg>png", "photo", "JPEG", "png", variant="rotated"),
    Scenario("cmyk-jpeg>jpeg", "photo", "JPEG", "jpeg", variant="cmyk"),
    Scenario("alpha-png>png", "alpha-noise", "PNG", "png"),
    Scenario("alpha-png>jpeg", "alpha-noise", "PNG", "jpeg", bg_color="336699"),
    Scenario("alpha-png>webp", "alpha-noise", "PNG", "webp"),
    # A crop box one row short of the whole image: the crop copy is nearly full size.
    Scenario("edge-png>jpeg+crop", "alpha-edge", "PNG", "jpeg", crop=True, bg_color="ffffff"),
    # Both caps at once: at the pixel cap, padded to the byte cap (tiers only).
    Scenario("padded-png>jpeg", "flat-alpha", "PNG", "jpeg", variant="padded", bg_color="ffffff"),
    Scenario("padded-rotated-jpeg>png", "photo", "JPEG", "png", variant="padded-rotated"),
)


# ---------------------------------------------------------------------------------------------
# Images


def dimensions(pixels: int) -> tuple[int, int]:
    """A 4:3 size with at most `pixels` pixels."""
    width = max(1, int(math.sqrt(pixels * ASPECT)))
    return width, max(1, pixels // width)


def photo_content(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: rembg's cloth fixture stretched, with sensor-like grain."""
    if PHOTO.is_file():
        base = Image.open(PHOTO).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    else:  # a disc on a gradient, when the shared fixtures are not next to the repo
        base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        r = min(width, height) // 3
        disc = Image.new("L", (width, height), 0)
        disc.paste(255, (width // 2 - r, height // 2 - r, width // 2 + r, height // 2 + r))
        base.paste((200, 60, 50), mask=disc)
    pixels = np.asarray(base).copy()
    del base
    rng = np.random.default_rng(seed)
    for top in range(0, height, 256):
        band = pixels[top : top + 256]
        grain = rng.integers(-6, 7, size=band.shape, dtype=np.int16)
        band[...] = np.clip(band.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def noise_content(width: int, height: int, channels: int = 3, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8))


def make_image(scenario: Scenario, pixels: int, path: Path, pad_to: int = 0) -> int:
    """Write the scenario's input at this pixel count; returns its size in bytes.

    With `pad_to`, a PNG gets a private chunk after its pixel data that brings the file to
    that many bytes: Pillow reads such chunks into memory (twice, briefly) while decoding.
    """
    width, height = dimensions(pixels)
    if scenario.content == "flat-alpha":  # compresses to almost nothing
        image = Image.new("RGBA", (width, height), (40, 160, 90, 200))
    elif scenario.content == "noise":
        image = noise_content(width, height)
    elif scenario.content == "alpha-edge":  # noise, opaque but for a clear last row
        image = noise_content(width, height)
        alpha = Image.new("L", (width, height), 255)
        alpha.paste(0, (0, height - 1, width, height))
        image.putalpha(alpha)
    elif scenario.content == "alpha-noise":
        image = photo_content(width, height)
        image.putalpha(noise_content(width, height, channels=1))
    else:
        image = photo_content(width, height)
    params: dict[str, Any] = {}
    if scenario.variant.endswith("rotated"):
        image = image.transpose(Image.Transpose.ROTATE_90)  # stored sideways, shown upright
        exif = Image.Exif()
        exif[0x0112] = 6
        params["exif"] = exif
    elif scenario.variant == "cmyk":
        image = image.convert("CMYK")
    if scenario.container == "JPEG":
        image.save(path, "JPEG", quality=90, **params)
    else:
        image.save(path, "PNG", compress_level=1)
    if pad_to:
        path.write_bytes(padded(path.read_bytes(), pad_to))
    return path.stat().st_size


def padded(data: bytes, size: int) -> bytes:
    """The file grown to `size` bytes with metadata Pillow reads: a private PNG chunk after
    the pixel data, or JPEG APP15 segments before it."""
    missing = max(0, size - len(data))
    if data.startswith(b"\x89PNG"):
        end = data.rindex(b"IEND") - 4
        return data[:end] + _chunk(b"paDd", os.urandom(max(0, missing - 12))) + data[end:]
    segments = []
    while missing > 4:
        payload = os.urandom(min(65533, missing - 4))
        segments.append(b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload)
        missing -= len(payload) + 4
    return data[:2] + b"".join(segments) + data[2:]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def png_bomb(width: int, height: int) -> bytes:
    """A real PNG of zeros: a few MB that would decode to width x height x 3 bytes."""

    chunk = _chunk
    squeeze = zlib.compressobj(9)
    row = b"\x00" * (width * 3 + 1)
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims width x height."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# The child: one measurement in a fresh process


def measure(args: argparse.Namespace) -> int:
    """Lambda's init, one warm-up request, then one image through CutoutService.remove."""
    os.environ["CUTOUT_CACHE_DIR"] = ""  # the cache is off: measure the pipeline
    started = time.perf_counter()
    import handler.app  # noqa: F401  (what Lambda imports: the API and S3 handlers)
    from handler import runtime
    from handler.core.options import RemoveOptions
    from handler.errors import CutoutError

    record: dict[str, Any] = {"init_s": time.perf_counter() - started}
    if not args.cold:  # a warm container: each model has run before (later runs peak higher)
        warm = io.BytesIO()
        photo_content(64, 48).save(warm, "JPEG")
        for name in runtime.service.models:
            runtime.service.remove(warm.getvalue(), RemoveOptions(mask=True), model=name)
    record["idle_mb"] = current_rss_mb()
    if args.image:
        data = Path(args.image).read_bytes()
        options = RemoveOptions.parse(
            format=None if args.output == "mask" else args.output,
            mask=args.output == "mask",
            crop=args.crop,
            bg_color=args.bg_color,
        )
        started = time.perf_counter()
        try:
            outcome = runtime.service.remove(data, options, model=args.model)
            record.update(
                status="ok",
                pixels=outcome.header.pixels,
                path=outcome.header.path,
                output_bytes=len(outcome.data),
            )
        except CutoutError as exc:
            record.update(status=exc.code, message=exc.message)
        record.update(input_bytes=len(data), seconds=time.perf_counter() - started)
    record["peak_mb"] = peak_rss_mb()
    record["after_mb"] = current_rss_mb()
    print(json.dumps(record))
    return 0


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): ru_maxrss would carry the parent's peak across exec."""
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def run_child(
    image: Path | None,
    scenario: Scenario | None,
    memory_mb: int,
    extra: Iterable[str] = (),
    env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "measure"]
    if image is not None and scenario is not None:
        command += ["--image", str(image), "--output", scenario.output]
        command += ["--crop"] if scenario.crop else []
        command += ["--bg-color", scenario.bg_color] if scenario.bg_color else []
    command += list(extra)
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb), **(env_extra or {})}
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, env=env, timeout=1800, check=False
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"status": f"crashed ({done.returncode})", "stderr": tail, "peak_mb": math.nan}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------
# fit


@dataclass
class Point:
    scenario: str
    megapixels_target: float
    pixels: int
    input_bytes: int
    peak_mb: float
    idle_mb: float
    seconds: float
    status: str

    @property
    def net_mb(self) -> float:
        """Peak less the encoded input, which the request holds one to one."""
        return self.peak_mb - self.input_bytes / MIB


def collect(
    sizes: list[float], scenarios: Iterable[Scenario], workdir: Path, extra: list[str]
) -> list[Point]:
    points: list[Point] = []
    for megapixels in sizes:
        for scenario in scenarios:
            suffix = ".jpg" if scenario.container == "JPEG" else ".png"
            path = workdir / f"{scenario.name.replace('>', '-')}-{megapixels}mp{suffix}"
            input_bytes = make_image(scenario, int(megapixels * 1e6), path)
            result = run_child(path, scenario, FIT_MEMORY_MB, extra)
            path.unlink()
            point = Point(
                scenario=scenario.name,
                megapixels_target=megapixels,
                pixels=int(result.get("pixels", megapixels * 1e6)),
                input_bytes=input_bytes,
                peak_mb=float(result["peak_mb"]),
                idle_mb=float(result.get("idle_mb", math.nan)),
                seconds=float(result.get("seconds", math.nan)),
                status=str(result["status"]),
            )
            points.append(point)
            print(
                f"{scenario.name:>20} {megapixels:5.0f} MP  input {input_bytes / MIB:7.1f} MiB"
                f"  peak {point.peak_mb:7.1f} MiB  {point.seconds:5.1f} s  {point.status}",
                file=sys.stderr,
                flush=True,
            )
    return points


@dataclass
class Fit:
    base_mb: float
    bytes_per_pixel: float
    residuals_mb: list[tuple[str, float, float]]  # (scenario, megapixels, measured - fitted)


def least_squares(points: list[Point]) -> Fit:
    x = np.array([p.pixels / MIB for p in points])
    y = np.array([p.net_mb for p in points])
    slope, intercept = np.polyfit(x, y, 1)
    residuals = [
        (p.scenario, p.pixels / 1e6, p.net_mb - (intercept + slope * p.pixels / MIB))
        for p in points
    ]
    return Fit(float(intercept), float(slope), residuals)


def slope_through(points: list[Point], base_mb: float) -> Fit:
    """Least squares with the intercept fixed at base_mb."""
    x = np.array([p.pixels / MIB for p in points])
    y = np.array([p.net_mb for p in points]) - base_mb
    slope = float((x * y).sum() / (x * x).sum())
    residuals = [
        (p.scenario, p.pixels / 1e6, p.net_mb - (base_mb + slope * p.pixels / MIB)) for p in points
    ]
    return Fit(base_mb, slope, residuals)


def envelope(points: list[Point]) -> list[Point]:
    """The worst point (highest net peak) at each size."""
    worst: dict[float, Point] = {}
    for p in points:
        if p.status == "ok" and (
            p.megapixels_target not in worst or p.net_mb > worst[p.megapixels_target].net_mb
        ):
            worst[p.megapixels_target] = p
    return [worst[k] for k in sorted(worst)]


def fit_model(points: list[Point]) -> dict[str, Any]:
    smallest = min(p.megapixels_target for p in points)
    plateau = max(p.net_mb for p in points if p.megapixels_target == smallest and p.status == "ok")
    above = [p for p in points if p.megapixels_target > smallest and p.net_mb > plateau * 1.05]
    webp_names = {s.name for s in SCENARIOS if s.is_webp}
    main = least_squares(envelope([p for p in above if p.scenario not in webp_names]))
    webp = slope_through(envelope([p for p in above if p.scenario in webp_names]), main.base_mb)
    per_scenario = {}
    for scenario in SCENARIOS:
        own = [p for p in above if p.scenario == scenario.name and p.status == "ok"]
        if len(own) >= 2:
            fit = least_squares(own)
            per_scenario[scenario.name] = (fit.base_mb, fit.bytes_per_pixel)
    return {
        "inference_peak_mb": plateau,
        "main": main,
        "webp": webp,
        "per_scenario": per_scenario,
    }


def report_fit(points: list[Point], model: dict[str, Any]) -> str:
    sizes = sorted({p.megapixels_target for p in points})
    lines = ["| scenario | " + " | ".join(f"{s:g} MP" for s in sizes) + " | own fit |"]
    lines.append("|---" * (len(sizes) + 2) + "|")
    for scenario in SCENARIOS:
        if not any(p.scenario == scenario.name for p in points):
            continue
        row = [scenario.name]
        for size in sizes:
            match = [
                p for p in points if p.scenario == scenario.name and p.megapixels_target == size
            ]
            if not match:
                row.append("")
                continue
            p = match[0]
            cell = f"{p.peak_mb:.0f}"
            if p.input_bytes >= MIB:
                cell += f" ({p.input_bytes / MIB:.0f} in)"
            row.append(cell if p.status == "ok" else f"{cell} {p.status}")
        own = model["per_scenario"].get(scenario.name)
        row.append(f"{own[0]:.0f} + {own[1]:.2f}/px" if own else "")
        lines.append("| " + " | ".join(row) + " |")
    main: Fit = model["main"]
    webp: Fit = model["webp"]
    lines += [
        "",
        f"INFERENCE_PEAK_MB = {model['inference_peak_mb']:.1f}  (net peak at {sizes[0]:g} MP)",
        f"BASE_MB = {main.base_mb:.1f}  BYTES_PER_PIXEL = {main.bytes_per_pixel:.2f}"
        "  (worst non-WebP path at each size)",
        f"WEBP_BYTES_PER_PIXEL = {webp.bytes_per_pixel:.2f}  (WebP paths, same base)",
        "",
        "residuals, measured - fitted (MiB):",
    ]
    for name, fit in (("main", main), ("webp", webp)):
        for scenario, megapixels, residual in fit.residuals_mb:
            lines.append(f"  {name:5} {scenario:>20} {megapixels:6.1f} MP  {residual:+7.1f}")
    return "\n".join(lines)


def command_fit(args: argparse.Namespace) -> int:
    sizes = [float(s) for s in args.sizes.split(",")]
    fitted = [s for s in SCENARIOS if not s.variant.startswith("padded")]
    chosen = [s for s in fitted if not args.only or s.name in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="cutout-memory-") as workdir:
        points = collect(sizes, chosen, Path(workdir), model_args(args))
    model = fit_model(points)
    print(report_fit(points, model))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(p) for p in points], indent=1))
    return 0


# ---------------------------------------------------------------------------------------------
# tiers, rembg, bombs


TIER_SCENARIOS = (
    "jpeg>png",
    "png>png",
    "jpeg>mask",
    "jpeg>webp",
    "rotated-jpeg>png",
    "cmyk-jpeg>jpeg",
    "noise-png>png",
    "alpha-png>png",
    "alpha-png>jpeg",
    "edge-png>jpeg+crop",
    "alpha-png>webp",
    "padded-png>jpeg",
    "padded-rotated-jpeg>png",
)


def model_args(args: argparse.Namespace) -> list[str]:
    return ["--model", args.model] if args.model else []


def command_tiers(args: argparse.Namespace) -> int:
    from handler.core.options import OutputFormat
    from handler.core.tiers import MemoryTier
    from handler.settings import Settings

    models = Settings.from_env().models

    by_name = {s.name: s for s in SCENARIOS}
    print("| tier | path | image | input | peak RSS | share of tier |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="cutout-tiers-") as workdir:
        for memory_mb in (int(t) for t in args.tiers.split(",")):
            tier = MemoryTier.for_memory(memory_mb, models=models)
            if not tier.holds_models:
                held = "+".join(models)
                print(f"| {memory_mb} MB | (does not hold {held}: refused at start-up) |")
                continue
            for name in TIER_SCENARIOS:
                if args.only and name not in args.only.split(","):
                    continue
                scenario = by_name[name]
                output = OutputFormat.PNG if scenario.output == "mask" else scenario.output
                pixels = tier.pixel_cap(OutputFormat(output))
                path = Path(workdir) / f"tier{suffix_of(scenario)}"
                padding = scenario.variant.startswith("padded")
                pad_to = tier.max_input_bytes - 64 if padding else 0
                input_bytes = make_image(scenario, pixels, path, pad_to)
                if input_bytes > tier.max_input_bytes:  # then the byte cap is what binds
                    pixels = int(pixels * tier.max_input_bytes / input_bytes * 0.98)
                    input_bytes = make_image(scenario, pixels, path)
                width, height = dimensions(pixels)
                result = run_child(path, scenario, memory_mb, model_args(args))
                path.unlink()
                peak = float(result.get("peak_mb", math.nan))
                print(
                    f"| {memory_mb} MB | {name} | {width}x{height} ({width * height / 1e6:.1f} MP)"
                    f" | {input_bytes / MIB:.1f} MiB | {peak:.0f} MiB ({result['status']}) |"
                    f" {peak / memory_mb:.0%} |",
                    flush=True,
                )
    return 0


# ---------------------------------------------------------------------------------------------
# paths: what decoding costs a pixel on each decoder path


def admitted_path(data: bytes) -> str:
    """The decoder path admit reports for these bytes."""
    from handler.core.structure import decoder_path

    with Image.open(io.BytesIO(data)) as image:
        return decoder_path(image, data)


def path_input(name: str, pixels: int, path: Path, pad_to: int = 0) -> int:
    """Write decoder path `name`'s file at this pixel count; returns its size in bytes."""
    from bench.decoder_paths import BY_NAME

    width, height = dimensions(pixels)
    data = BY_NAME[name].make(photo_content(width, height))
    path.write_bytes(padded(data, pad_to) if pad_to and name.startswith(("jpeg", "png")) else data)
    return path.stat().st_size


def command_paths(args: argparse.Namespace) -> int:
    """Each decoder path with PNG output at each size; the net cost a pixel over the profile's
    base, per admitted path (the worst of its files)."""
    from bench.decoder_paths import PATHS
    from handler.core.tiers import FOOTPRINTS, default_profile

    sizes = [float(s) for s in args.sizes.split(",")]
    profile = os.environ.get("CUTOUT_SESSION_PROFILE") or default_profile(FIT_MEMORY_MB)
    base_mb = FOOTPRINTS[profile].base_mb
    if args.from_json:  # report points measured before
        rows = [r for f in args.from_json.split(",") for r in json.loads(Path(f).read_text())]
        print(report_paths(rows, base_mb))
        return 0
    chosen = [p for p in PATHS if not args.only or p.name in args.only.split(",")]
    scenario = Scenario("path", "photo", "PNG", "png")
    extra = ["--cold"] if args.cold else []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cutout-paths-") as workdir:
        for decoder in chosen:
            for megapixels in sizes:
                file = Path(workdir) / f"{decoder.name}{decoder.suffix}"
                input_bytes = path_input(decoder.name, int(megapixels * 1e6), file)
                result = run_child(file, scenario, FIT_MEMORY_MB, extra)
                file.unlink()
                pixels = int(result.get("pixels", megapixels * 1e6))
                peak = float(result["peak_mb"])
                net = peak - input_bytes / MIB
                row = {
                    "file": decoder.name,
                    "path": result.get("path", "?"),
                    "megapixels": megapixels,
                    "input_mib": input_bytes / MIB,
                    "peak_mb": peak,
                    "per_pixel": (net - base_mb) * MIB / pixels,
                    "seconds": float(result.get("seconds", math.nan)),
                    "status": result["status"],
                }
                rows.append(row)
                print(
                    f"{decoder.name:>24} {row['path']:>24} {megapixels:5.0f} MP"
                    f"  input {row['input_mib']:6.1f} MiB  peak {peak:7.1f} MiB"
                    f"  {row['per_pixel']:5.2f} B/px  {row['seconds']:5.1f} s  {row['status']}",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"profile {profile}, {'fresh (cold)' if args.cold else 'warm'} processes, PNG output")
    print(report_paths(rows, base_mb))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def report_paths(rows: list[dict[str, Any]], base_mb: float) -> str:
    """Per file: the peak at each size, its admitted path, the net bytes a pixel over the
    base (worst size), the slope between sizes, and what the path is charged: the larger,
    since the net figure a pixel tends to the slope as images grow."""
    sizes = sorted({r["megapixels"] for r in rows})
    lines = [
        f"base {base_mb:.1f} MiB; net = peak - input - base",
        "",
        "| file | admitted path | "
        + " | ".join(f"{s:g} MP" for s in sizes)
        + " | net bytes/px | slope | charged |",
        "|---|---|" + "---|" * len(sizes) + "---|---|---|",
    ]
    charged: dict[str, float] = {}
    for name in dict.fromkeys(r["file"] for r in rows):
        own = sorted((r for r in rows if r["file"] == name), key=lambda r: r["megapixels"])
        ok = [r for r in own if r["status"] == "ok"]
        worst = max((r["per_pixel"] for r in ok), default=math.nan)
        slope = math.nan
        if len(ok) >= 2:
            first, last = ok[0], ok[-1]
            net = [(r["peak_mb"] - r["input_mib"]) * MIB for r in (first, last)]
            slope = (net[1] - net[0]) / ((last["megapixels"] - first["megapixels"]) * 1e6)
        charge = max(worst, slope) if not math.isnan(slope) else worst
        charged[own[0]["path"]] = max(charged.get(own[0]["path"], 0.0), charge)
        cells = {
            r["megapixels"]: f"{r['peak_mb']:.0f}"
            + (f" ({r['input_mib']:.0f} in)" if r["input_mib"] >= 1 else "")
            + ("" if r["status"] == "ok" else f" {r['status']}")
            for r in own
        }
        lines.append(
            f"| {name} | {own[0]['path']} | "
            + " | ".join(cells.get(s, "") for s in sizes)
            + f" | {worst:.2f} | {slope:.2f} | {charge:.2f} |"
        )
    lines += ["", "charged per admitted path (the worst of its files):"]
    lines += [f"    {path}: {value:.2f}" for path, value in sorted(charged.items())]
    return "\n".join(lines)


def command_path_tiers(args: argparse.Namespace) -> int:
    """Each decoder path at its own cap per tier (PNG output), and padded to the byte cap."""
    from bench.decoder_paths import PATHS
    from handler.core.options import OutputFormat
    from handler.core.tiers import MemoryTier

    scenario = Scenario("path", "photo", "PNG", "png")
    chosen = [p for p in PATHS if not args.only or p.name in args.only.split(",")]
    print("| tier | file | admitted path | image | input | peak RSS | share of tier |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="cutout-path-tiers-") as workdir:
        for memory_mb in (int(t) for t in args.tiers.split(",")):
            tier = MemoryTier.for_memory(memory_mb)
            for decoder in chosen:
                for pad in (False, True) if args.padded else (False,):
                    if pad and not decoder.name.startswith(("jpeg", "png")):
                        continue
                    file = Path(workdir) / f"{decoder.name}{decoder.suffix}"
                    path_input(decoder.name, 64 * 48, file)
                    admitted = admitted_path(file.read_bytes())
                    pixels = tier.pixel_cap(OutputFormat.PNG, admitted)
                    pad_to = tier.max_input_bytes - 64 if pad else 0
                    input_bytes = path_input(decoder.name, pixels, file, pad_to)
                    if input_bytes > tier.max_input_bytes:  # the byte cap binds first
                        pixels = int(pixels * tier.max_input_bytes / input_bytes * 0.98)
                        input_bytes = path_input(decoder.name, pixels, file)
                    width, height = dimensions(pixels)
                    result = run_child(file, scenario, memory_mb)
                    file.unlink()
                    peak = float(result.get("peak_mb", math.nan))
                    label = ("padded " if pad else "") + decoder.name
                    print(
                        f"| {memory_mb} MB | {label} | {admitted} | {width}x{height}"
                        f" ({width * height / 1e6:.1f} MP) | {input_bytes / MIB:.1f} MiB |"
                        f" {peak:.0f} MiB ({result['status']}) | {peak / memory_mb:.0%} |",
                        flush=True,
                    )
    return 0


def suffix_of(scenario: Scenario) -> str:
    return ".jpg" if scenario.container == "JPEG" else ".png"


REMBG_CHILD = """
import sys, time
from rembg import new_session, remove
data = open(sys.argv[1], "rb").read()
started = time.perf_counter()
out = remove(data, session=new_session("u2netp"))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(f"{int(hwm) / 1024:.1f} {time.perf_counter() - started:.2f} {len(out)}")
"""


def command_rembg(args: argparse.Namespace) -> int:
    scenario = Scenario("jpeg>png", "photo", "JPEG", "png")
    with tempfile.TemporaryDirectory(prefix="cutout-rembg-") as workdir:
        path = Path(workdir) / "photo-12mp.jpg"
        image = photo_content(4000, 3000)
        image.save(path, "JPEG", quality=92)
        size = path.stat().st_size
        ours, theirs = [], []
        for _ in range(args.runs):
            result = run_child(path, scenario, int(os.environ.get("CUTOUT_BENCH_TIER", "2048")))
            ours.append(float(result["peak_mb"]))
            done = subprocess.run(
                [args.rembg_python, "-c", REMBG_CHILD, str(path)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            theirs.append(float(done.stdout.split()[0]))
    print(f"12 MP JPEG (4000x3000, {size} bytes), {args.runs} runs, fresh processes")
    print(f"cutout peak RSS: {', '.join(f'{v:.0f}' for v in ours)} MiB")
    print(f"rembg  peak RSS: {', '.join(f'{v:.0f}' for v in theirs)} MiB")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median ratio cutout / rembg = {ratio:.2f} (goal <= 0.45)")
    return 0


def command_bombs(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cutout-bombs-") as workdir:
        bombs = {
            "png-30000x30000": png_bomb(30000, 30000),
            "jpeg-declaring-65000x65000": jpeg_declaring(65000, 65000),
        }
        idle = run_child(None, None, args.memory_mb)
        print(f"idle process: peak {idle['peak_mb']:.1f} MiB")
        for name, data in bombs.items():
            path = Path(workdir) / name
            path.write_bytes(data)
            scenario = Scenario(name, "photo", "PNG", "png")
            result = run_child(path, scenario, args.memory_mb)
            delta = result["peak_mb"] - idle["peak_mb"]
            print(
                f"{name} ({len(data) / MIB:.1f} MiB file): {result['status']}, "
                f"peak {result['peak_mb']:.1f} MiB, {delta:+.1f} MiB over idle"
            )
    return 0


def command_concurrency(args: argparse.Namespace) -> int:
    """Concurrent requests against `cutout serve` on loopback: statuses and the server's peak."""
    import socket
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.memory_mb),
        "CUTOUT_CACHE_DIR": "",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "handler.cli", "serve", "--port", str(port)], cwd=REPO, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        width, height = dimensions(int(args.megapixels * 1e6))
        bodies = []
        for i in range(args.requests):
            out = io.BytesIO()
            photo_content(width, height, seed=i).save(out, "JPEG", quality=90)
            bodies.append(out.getvalue())

        def post(body: bytes) -> tuple[int, str]:
            request = urllib.request.Request(f"{base}/v1/remove", data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    response.read()
                    return response.status, ""
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers.get("Retry-After", "")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.requests) as pool:
            results = list(pool.map(post, bodies))
        seconds = time.perf_counter() - started
        with Path(f"/proc/{server.pid}/status").open() as status:
            peak = next(int(line.split()[1]) / 1024 for line in status if "VmHWM" in line)
    finally:
        server.terminate()
        server.wait(timeout=30)
    counts: dict[str, int] = {}
    for code, retry_after in results:
        key = f"{code}" + (f" (Retry-After {retry_after})" if retry_after else "")
        counts[key] = counts.get(key, 0) + 1
    print(
        f"{args.requests} concurrent {width}x{height} JPEGs at {args.memory_mb} MB in "
        f"{seconds:.1f} s: {counts}; server peak RSS {peak:.0f} MiB "
        f"({peak / args.memory_mb:.0%} of the tier)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="measure every scenario at several sizes and fit")
    fit.add_argument("--sizes", default="1,24,40,64,96", help="megapixels, comma separated")
    fit.add_argument("--only", default="", help="scenario names, comma separated")
    fit.add_argument("--json", help="write the raw points here")
    fit.add_argument("--model", help="the loaded model that draws the mask (default: first)")
    tiers = sub.add_parser("tiers", help="peak RSS at each tier's largest admitted image")
    tiers.add_argument("--tiers", default="512,1024,2048")
    tiers.add_argument("--only", default="", help="path names, comma separated")
    tiers.add_argument("--model", help="the loaded model that draws the mask (default: first)")
    paths = sub.add_parser("paths", help="what decoding costs a pixel on each decoder path")
    paths.add_argument("--sizes", default="8,24", help="megapixels, comma separated")
    paths.add_argument("--only", default="", help="file names (bench/decoder_paths.py)")
    paths.add_argument("--cold", action="store_true", help="fresh processes, no warm-up")
    paths.add_argument("--json", help="write the raw points here")
    paths.add_argument("--from-json", help="report these files' points (comma separated)")
    path_tiers = sub.add_parser("path-tiers", help="each decoder path at its own cap per tier")
    path_tiers.add_argument("--tiers", default="512,1024,2048")
    path_tiers.add_argument("--only", default="", help="file names (bench/decoder_paths.py)")
    path_tiers.add_argument("--padded", action="store_true", help="also padded to the byte cap")
    rembg = sub.add_parser("rembg", help="12 MP JPEG: cutout against rembg 2.0.86")
    rembg.add_argument("--rembg-python", required=True, help="the interpreter that has rembg")
    rembg.add_argument("--runs", type=int, default=3)
    bombs = sub.add_parser("bombs", help="what refusing a decompression bomb costs")
    bombs.add_argument("--memory-mb", type=int, default=2048)
    concurrency = sub.add_parser("concurrency", help="concurrent requests to `cutout serve`")
    concurrency.add_argument("--memory-mb", type=int, default=1024)
    concurrency.add_argument("--requests", type=int, default=8)
    concurrency.add_argument("--megapixels", type=float, default=12.0)
    child = sub.add_parser("measure", help="(internal) one measurement in this process")
    child.add_argument("--image")
    child.add_argument("--output", default="png")
    child.add_argument("--crop", action="store_true")
    child.add_argument("--bg-color")
    child.add_argument("--cold", action="store_true", help="no warm-up request first")
    child.add_argument("--model", help="the loaded model that draws the mask")
    args = parser.parse_args()
    commands = {
        "fit": command_fit,
        "tiers": command_tiers,
        "paths": command_paths,
        "path-tiers": command_path_tiers,
        "rembg": command_rembg,
        "bombs": command_bombs,
        "concurrency": command_concurrency,
        "measure": measure,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
