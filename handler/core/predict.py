"""Prediction: the U2-Net ONNX session and the 320x320 mask it draws."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from handler.errors import ModelUnavailableError

MODEL_SIDE = 320
# ImageNet statistics, as rembg's u2netp session uses them.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# ORT_LOGGING_LEVEL: 3 = errors only.
ORT_LOG_SEVERITY = 3


@dataclass(frozen=True)
class SessionTuning:
    """ONNX Runtime knobs, set explicitly. The two profiles below are what cutout uses."""

    intra_op_threads: int = 1
    cpu_arena: bool = False
    memory_pattern: bool = False
    layout_optimizations: bool = False


# Two session profiles, measured by bench/session_options.py (docs/bench/session-options.md)
# and bench/memory_model.py (docs/memory.md):
# - lean: no CPU arena, no memory patterns, no NCHWc layout transforms. The model's working
#   set is returned after every run, so a warm process idles near 90 MB and a 512 MB tier
#   still holds a 30 MP photo. The price: session.run takes ~1.8x as long.
# - fast: arena and layout transforms on (ONNX Runtime's defaults, less memory patterns,
#   which would keep ~190 MB more resident for nothing measurable). The arena keeps the
#   working set (~280 MB) resident between images, which every tier from 1,024 MB can spare.
PROFILES = {
    "lean": SessionTuning(),
    "fast": SessionTuning(cpu_arena=True, layout_optimizations=True),
}


# One inference at a time in the process, whichever model: each concurrent session.run holds
# its own activations (~300 MB for u2netp, more for u2net), which the memory budget does not
# count, and on CPU the intra-op threads already use every core, so running two at once
# multiplies the peak but not throughput.
INFERENCE_LOCK = threading.Lock()


@dataclass(frozen=True)
class U2NetModel:
    """A loaded U2-Net-family model: the session and what identifies it in cache keys."""

    session: Any
    input_name: str
    model_id: str
    path: Path
    name: str = "u2netp"  # what requests choose it by (CUTOUT_MODELS, model=)
    arena: bool = False  # whether the session keeps its working set in a CPU arena (fast)
    _run_lock: threading.Lock = field(
        default_factory=lambda: INFERENCE_LOCK, repr=False, compare=False
    )

    def run(self, batch: np.ndarray, *, release_arena: bool = False) -> np.ndarray:
        """Raw first output (the fused saliency map) for a (1, 3, 320, 320) batch.

        `release_arena`: give the arena's memory back to the system at the end of this run
        (the fast profile keeps it otherwise), so that what comes next for a large image does
        not add up with it. The next run touches that memory afresh: ~0.2 s on one core here.
        """
        feed = {self.input_name: batch}
        with self._run_lock:
            if release_arena and self.arena:
                outputs = self.session.run(None, feed, arena_release_options())
            else:
                outputs = self.session.run(None, feed)
        return np.asarray(outputs[0])


def arena_release_options() -> Any:
    """Run options that shrink the CPU arena to what is in use when the run ends."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def load_model(
    path: Path,
    tuning: SessionTuning,
    name: str | None = None,
    *,
    optimized_dir: Path | None = None,
) -> U2NetModel:
    """Open the ONNX model once; a missing or broken file raises ModelUnavailableError.

    `name` is what requests call it (default: the file's stem). With `optimized_dir`, the graph
    ONNX Runtime optimises for this CPU is kept there and loaded as it is next time (see
    `optimized_session`); the model's id is always the digest of the file at `path`.
    """
    if not path.is_file():
        raise ModelUnavailableError(
            f"model file not found at {path}; run 'make setup' to fetch it, "
            "or set CUTOUT_MODEL_PATH to a U2-Net-family ONNX file"
        )
    # The file's digest (the model's id in cache keys) is read on another core while ONNX
    # Runtime builds the session: u2net's 176 MB take ~0.2 s to hash here, hidden on two cores.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(file_sha256, path)
        if optimized_dir is None:
            session = _session(path, tuning)
        else:
            session = optimized_session(path, tuning, optimized_dir)
        model_id = f"{path.stem}-{digest.result()[:12]}"
    return U2NetModel(
        session=session,
        input_name=session.get_inputs()[0].name,
        model_id=model_id,
        path=path,
        name=name or path.stem,
        arena=tuning.cpu_arena,
    )


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:  # streamed: u2net's 176 MB are not held twice at init
        return hashlib.file_digest(f, "sha256").hexdigest()


def cpu_signature() -> str:
    """What the optimised graph depends on besides the model: the CPU's name and features."""
    try:
        with Path("/proc/cpuinfo").open() as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = [platform.processor()]
    return f"{platform.machine()}|{''.join(lines)}"


def optimized_file(path: Path, tuning: SessionTuning, folder: Path) -> Path:
    """Where the graph optimised for this model file, profile, ONNX Runtime and CPU is kept.

    The file is named by its source's path, size and modification time (not its digest, which
    is read beside the session), so a changed model file gets a new one.
    """
    stat = path.stat()
    source = [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    key = [*source, ort.__version__, cpu_signature()]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    return folder / f"{path.stem}-{_level_name(tuning)}-{digest}.onnx"


def _level_name(tuning: SessionTuning) -> str:
    return "all" if tuning.layout_optimizations else "extended"


def optimized_session(path: Path, tuning: SessionTuning, folder: Path) -> Any:
    """A session from the graph ONNX Runtime optimised for this CPU, kept in `folder`.

    Loading that graph with optimisations off skips its layout transforms: u2net's fast session
    took ~0.45 s instead of ~0.85 s here, with outputs identical to the last bit. The first time
    (or after a change of model, profile, ONNX Runtime or CPU) the session is made from the
    model and its graph saved (~0.5 s more for u2net, once). A file that does not load is made
    again; a folder that cannot be written only means the model is used as shipped. Only where
    the folder outlives the process (the CLI, the local server; not Lambda).
    """
    target = optimized_file(path, tuning, folder)
    if target.is_file():
        try:
            return _session(target, tuning, optimized=True)
        except ModelUnavailableError:
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        session = _session(path, tuning, save_to=partial)
        partial.replace(target)
    except (OSError, ModelUnavailableError):
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return _session(path, tuning)
    # The same model and level from an older ORT, CPU or model file: never read again.
    for stale in folder.glob(f"{path.stem}-{_level_name(tuning)}-*.onnx"):
        if stale != target:
            with contextlib.suppress(OSError):
                stale.unlink(missing_ok=True)
    return session


def _session(
    path: Path, tuning: SessionTuning, *, optimized: bool = False, save_to: Path | None = None
) -> Any:
    """An ONNX Runtime session with these knobs; ModelUnavailableError if the file is no model.

    `optimized`: the file is a graph ONNX Runtime already optimised (loaded as it is);
    `save_to`: keep the graph optimised here.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = tuning.intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if optimized
        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if tuning.layout_optimizations
        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    )
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    options.enable_cpu_mem_arena = tuning.cpu_arena
    options.enable_mem_pattern = tuning.memory_pattern
    options.log_severity_level = ORT_LOG_SEVERITY
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own untyped exceptions
        raise ModelUnavailableError(
            f"model file at {path} is not a usable ONNX model ({type(exc).__name__}); "
            "run 'make setup' to fetch a verified copy, or fix CUTOUT_MODEL_PATH"
        ) from None
    return session


def warm_up_model(model: U2NetModel) -> None:
    """One inference on a blank batch, so that the first real image does not pay for the first
    run's set-up."""
    model.run(np.zeros((1, 3, MODEL_SIDE, MODEL_SIDE), dtype=np.float32))


def model_input(image: Image.Image) -> np.ndarray:
    """The (1, 3, 320, 320) float32 batch, normalised as rembg does, without float64 copies.

    rembg resizes with LANCZOS, divides by the image's own maximum (not by 255), then applies
    the ImageNet mean and standard deviation.
    """
    small = image.resize((MODEL_SIDE, MODEL_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float32)  # (320, 320, 3)
    peak = max(float(pixels.max()), 1e-6)
    batch = np.empty((1, 3, MODEL_SIDE, MODEL_SIDE), dtype=np.float32)
    for channel in range(3):
        np.divide(pixels[:, :, channel], peak, out=batch[0, channel])
        batch[0, channel] -= MEAN[channel]
        batch[0, channel] /= STD[channel]
    return batch


def saliency_to_mask(saliency: np.ndarray) -> Image.Image:
    """Min-max scale the model's first map to a 320x320 8-bit mask (truncating, as rembg)."""
    pred = saliency[0, 0]
    low = pred.min()
    span = pred.max() - low
    if not np.isfinite(span) or span <= 0:
        return Image.new("L", (pred.shape[1], pred.shape[0]), 0)
    scaled = (pred - low) / span * np.float32(255)
    return Image.fromarray(scaled.astype(np.uint8))


def predict_mask(model: U2NetModel, image: Image.Image) -> Image.Image:
    """The 320x320 mask for an RGB image."""
    return saliency_to_mask(model.run(model_input(image)))
