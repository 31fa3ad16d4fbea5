"""The corpus through the FastAPI app (TestClient): every case gets its contracted answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from handler.core.predict import U2NetModel
from handler.http.api import create_app
from handler.serving.service import CutoutService
from tests.hardening.contract import check_answer
from tests.hardening.corpus import CORPUS, CORPUS_TIER, HOSTILE, VALID, Case, case_ids, good_photo

pytestmark = pytest.mark.timeout(120)
# The envelope must not change what a hostile body gets (the byte cap counts the envelope too,
# so that case is the raw body's); two valid images show the field is read whole.
MULTIPART = tuple(c for c in HOSTILE if c.code != "payload_too_large") + tuple(
    c for c in VALID if c.name in ("exif-rotated-jpeg", "animated-gif")
)


@pytest.fixture(scope="module")
def corpus_service(model: U2NetModel) -> CutoutService:
    """No cache: every valid case runs the whole pipeline."""
    return CutoutService(model=model, tier=CORPUS_TIER)


@pytest.fixture(scope="module")
def client(corpus_service: CutoutService) -> Iterator[TestClient]:
    with TestClient(create_app(corpus_service), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("case", CORPUS, ids=case_ids(CORPUS))
def test_raw_body(client: TestClient, case: Case) -> None:
    response = client.post(f"/v1/remove?{case.query}", content=case.body)
    check_answer(case, response.status_code, dict(response.headers), response.content)


@pytest.mark.parametrize("case", MULTIPART, ids=case_ids(MULTIPART))
def test_multipart_field(client: TestClient, case: Case) -> None:
    response = client.post(
        f"/v1/remove?{case.query}", files={"file": ("upload", case.body, "image/jpeg")}
    )
    check_answer(case, response.status_code, dict(response.headers), response.content)


def test_still_serving_after_the_corpus(client: TestClient, corpus_service: CutoutService) -> None:
    response = client.post("/v1/remove", content=good_photo())
    assert response.status_code == 200
    assert corpus_service.budget.in_use == 0  # no reservation leaked by a refused request
