"""Shared test helpers: fixture paths, events, images made in the test."""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
FIXTURES = REPO / "tests" / "fixtures" / "rembg"
FAILURES = REPO / "tests" / "_failures"
FIXTURE_NAMES = ("anime-girl-1", "car-1", "cloth-1", "plants-1")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.jpg").read_bytes()


def load_event(name: str, *, body: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    """An event from events/ (a fresh copy), optionally with a new binary body or keys replaced."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event = copy.deepcopy(event)
    if body is not None:
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
        for headers in (event.get("headers") or {},):
            for key in list(headers):
                if key.lower() == "content-length":
                    headers[key] = str(len(body))
        for key in list(event.get("multiValueHeaders") or {}):
            if key.lower() == "content-length":
                event["multiValueHeaders"][key] = [str(len(body))]
    event.update(overrides)
    return event


def encode_image(image: Image.Image, fmt: str = "PNG", **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def photo(width: int = 96, height: int = 64, *, seed: int = 0) -> Image.Image:
    """A synthetic photo: a bright disc (the subject) on a darker gradient."""
    from PIL import ImageDraw

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    r = min(width, height) // 3
    cx, cy = width // 2 + seed % 5, height // 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(220, 40 + seed % 100, 60))
    return image


def save_failure(name: str, **images: Image.Image) -> Path:
    """Write images where a failing test can be looked at; returns the folder."""
    folder = FAILURES / name
    folder.mkdir(parents=True, exist_ok=True)
    for label, image in images.items():
        image.save(folder / f"{label}.png")
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_in_own_loop(work: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine in a fresh event loop and close it, leaving the thread's loop alone
    (asyncio.run would unset it, and Mangum's get_event_loop() then fails in later tests)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()
