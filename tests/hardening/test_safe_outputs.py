"""Safe outputs: no input metadata in results, nosniff everywhere, errors that reveal nothing,
and no URL is ever fetched."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageCms, PngImagePlugin

from handler.aws.lambda_context import LocalLambdaContext
from handler.core.predict import MODEL_SIDE, U2NetModel
from handler.core.tiers import MemoryTier
from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.hardening.contract import lambda_answer, lambda_api, leaks_internals
from tests.support import load_event, photo

MARKER = "cutout-private-marker-7f3a"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    f"<rdf:Description>{MARKER}</rdf:Description></rdf:RDF></x:xmpmeta>"
)
# Byte patterns by which each kind of metadata shows up in PNG, WebP or JPEG files.
METADATA_SIGNATURES = {
    "marker": MARKER.encode(),
    "EXIF (JPEG APP1 / WebP / TIFF)": b"Exif\x00\x00",
    "EXIF (PNG eXIf)": b"eXIf",
    "ICC (JPEG APP2)": b"ICC_PROFILE",
    "ICC (PNG iCCP)": b"iCCP",
    "ICC (WebP ICCP)": b"ICCP",
    "XMP": b"x:xmpmeta",
    "XMP namespace": b"ns.adobe.com/xap",
    "PNG text": b"tEXt",
    "PNG compressed text": b"zTXt",
    "PNG international text": b"iTXt",
}
INFO_KEYS = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "Comment")


def icc_profile() -> bytes:
    profile = ImageCms.createProfile("sRGB")
    return ImageCms.ImageCmsProfile(profile).tobytes()  # type: ignore[no-any-return]


def exif_block() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = MARKER  # ImageDescription
    exif[0x013B] = MARKER  # Artist
    exif[0x0112] = 1
    return exif


def with_metadata(fmt: str) -> bytes:
    """A photo carrying EXIF, an ICC profile and XMP (and a comment where the format has one)."""
    out = io.BytesIO()
    image = photo(48, 32)
    common: dict[str, Any] = {"exif": exif_block(), "icc_profile": icc_profile()}
    if fmt == "JPEG":
        image.save(out, fmt, xmp=XMP.encode(), comment=MARKER, **common)
    elif fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", XMP)
        text.add_text("Comment", MARKER)
        image.save(out, fmt, pnginfo=text, **common)
    elif fmt == "WEBP":
        image.save(out, fmt, xmp=XMP.encode(), **common)
    else:
        image.save(out, fmt, tiffinfo={700: XMP.encode()}, **common)
    data = out.getvalue()
    opened = Image.open(io.BytesIO(data))
    assert opened.info.get("icc_profile") and MARKER.encode() in data  # the input really has them
    return data


def metadata_in(data: bytes) -> list[str]:
    found = [name for name, pattern in METADATA_SIGNATURES.items() if pattern in data]
    with Image.open(io.BytesIO(data)) as image:
        found += [f"info[{key!r}]" for key in INFO_KEYS if image.info.get(key)]
        if image.getexif():
            found.append("getexif()")
    return found


class DiscSaliency:
    """Stands in for the ONNX session: a bright disc on dark, at once. What an output carries
    does not depend on the mask, and 32 real inferences would cost half a minute."""

    def run(self, outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        y, x = np.mgrid[0:MODEL_SIDE, 0:MODEL_SIDE]
        disc = ((x - 160) ** 2 + (y - 160) ** 2 < 100**2).astype(np.float32)
        return [disc[None, None]]


@pytest.fixture
def fast_service(tier: MemoryTier) -> CutoutService:
    model = U2NetModel(
        session=DiscSaliency(), input_name="input", model_id="disc", path=Path("disc")
    )
    return CutoutService(model=model, tier=tier)


@pytest.fixture
def client(service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def fast_client(fast_service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(fast_service), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("source", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize(
    "query",
    [
        "format=png",
        "format=webp",
        "format=jpeg",
        "mask=true",
        "mask=true&format=webp",
        "mask=true&format=jpeg",
        "bg_color=336699&crop=true",
        "format=webp&bg_color=33669980",
    ],
)
def test_no_input_metadata_reaches_any_output(
    fast_client: TestClient, source: str, query: str
) -> None:
    response = fast_client.post(f"/v1/remove?{query}", content=with_metadata(source))
    assert response.status_code == 200, response.text
    assert metadata_in(response.content) == []


# --- headers and error bodies ------------------------------------------------------------------


def raising(exc: Exception) -> Callable[..., Any]:
    def remove(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return remove


INTERNAL_DETAIL = "/srv/private/cutout/handler/secret.py line 12: key=AKIAEXAMPLE"


def test_an_internal_error_is_a_bare_500_with_nosniff(
    client: TestClient, service: CutoutService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "remove", raising(RuntimeError(INTERNAL_DETAIL)))
    response = client.post("/v1/remove", content=b"anything")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json() == {
        "error": {"code": "internal_error", "message": "an internal error occurred"}
    }
    assert "secret" not in response.text and "Traceback" not in response.text


def test_an_internal_error_in_lambda_reveals_nothing(
    service: CutoutService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "remove", raising(RuntimeError(INTERNAL_DETAIL)))
    handler = lambda_api(service)
    response = handler(load_event("api-v1"), LocalLambdaContext())  # type: ignore[arg-type]
    status, headers, body = lambda_answer(response)
    text = body.decode()
    assert status == 500 and headers["x-content-type-options"] == "nosniff"
    assert json.loads(text)["error"]["code"] == "internal_error"
    assert "secret" not in text and not leaks_internals(text)


@pytest.mark.parametrize(
    "method,path,kwargs,status",
    [
        ("get", "/healthz", {}, 200),
        ("get", "/openapi.json", {}, 200),
        ("get", "/docs", {}, 200),
        ("post", "/v1/remove", {"content": b""}, 400),
        ("post", "/v1/remove?format=bmp", {"content": b"x"}, 422),
        ("get", "/v1/remove", {}, 405),
        ("get", "/nowhere", {}, 404),
        ("post", "/v1/uploads", {"json": {"content_type": 3}}, 422),
        ("post", "/v1/uploads", {"content": b"{not json"}, 422),
    ],
)
def test_nosniff_on_every_kind_of_response(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    if status >= 400:
        assert not leaks_internals(response.text)


# --- no fetching -------------------------------------------------------------------------------


def test_urls_are_never_fetched(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL as the body, or as a made-up `url` parameter, is refused without any connection."""
    attempts: list[object] = []

    def no_connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("outbound connection attempted")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    metadata_url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    by_body = client.post("/v1/remove", content=metadata_url.encode())
    by_query = client.post(f"/v1/remove?url={metadata_url}", content=b"")
    assert by_body.json()["error"]["code"] == "unsupported_format"
    assert by_query.json()["error"]["code"] == "invalid_option"  # `url` is no option at all
    assert attempts == []
