"""The corpus through handler.app.lambda_handler with API Gateway REST (v1) and HTTP API (v2)
events from events/."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

from handler.aws.lambda_context import LocalLambdaContext
from handler.serving.service import CutoutService
from tests.hardening.contract import check_answer, lambda_answer
from tests.hardening.corpus import CORPUS, Case, case_ids, good_photo
from tests.support import load_event

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("runtime_at_corpus_tier")]
EVENTS = ("api-v1", "api-v2")


@pytest.fixture(scope="module")
def lambda_handler() -> Any:
    from handler.app import lambda_handler

    return lambda_handler


def event_for(name: str, body: bytes, query: str) -> dict[str, Any]:
    """A sample event carrying this body and query string, as API Gateway would send it."""
    pairs = parse_qsl(query, keep_blank_values=True)
    single = dict(pairs) or None
    if name == "api-v1":
        multi = {k: [v for key, v in pairs if key == k] for k in dict(pairs)} or None
        return load_event(
            name,
            body=body,
            queryStringParameters=single,
            multiValueQueryStringParameters=multi,
        )
    return load_event(name, body=body, rawQueryString=query, queryStringParameters=single)


@pytest.mark.parametrize("event_name", EVENTS)
@pytest.mark.parametrize("case", CORPUS, ids=case_ids(CORPUS))
def test_corpus_case(
    lambda_handler: Any, lambda_context: LocalLambdaContext, case: Case, event_name: str
) -> None:
    response = lambda_handler(event_for(event_name, case.body, case.query), lambda_context)
    check_answer(case, *lambda_answer(response))


def test_still_serving_after_the_corpus(
    lambda_handler: Any, lambda_context: LocalLambdaContext, runtime_at_corpus_tier: CutoutService
) -> None:
    for name in EVENTS:
        status, headers, _ = lambda_answer(
            lambda_handler(event_for(name, good_photo(), ""), lambda_context)
        )
        assert status == 200 and headers["content-type"] == "image/png"
    assert runtime_at_corpus_tier.budget.in_use == 0
