"""X-Ray tracing in a Lambda-like process: real subsegments, sent to a daemon address on loopback.

The handlers run in a child process whose environment is Lambda's (LAMBDA_TASK_ROOT, a sampled
_X_AMZN_TRACE_ID, AWS_XRAY_DAEMON_ADDRESS), so the X-Ray SDK streams its subsegments as UDP
datagrams to a socket this test listens on, exactly as it would to the X-Ray daemon.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.s3_helpers import s3_event_for
from tests.support import REPO, encode_image, load_event, photo

TRACE_ID = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"

CHILD = """
import json, sys
from handler.app import lambda_handler, s3_handler
from handler.aws.lambda_context import LocalLambdaContext

context = LocalLambdaContext(function_name="cutout-api", memory_limit_in_mb=2048)
results = []
for path in sys.argv[1:]:
    event = json.load(open(path))
    handler = s3_handler if "Records" in event else lambda_handler
    response = handler(event, context)
    results.append(response.get("statusCode", response))
print(json.dumps(results))
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def received_documents(sock: socket.socket) -> list[dict[str, Any]]:
    """Every segment document the SDK sent: each datagram is a JSON header line, then the body."""
    sock.setblocking(False)
    documents = []
    while True:
        try:
            datagram = sock.recv(65536)
        except BlockingIOError:
            return documents
        header, _, body = datagram.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def flatten(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents and every subsegment nested in them."""
    out = []
    pending = list(documents)
    while pending:
        document = pending.pop()
        out.append(document)
        pending.extend(document.get("subsegments", []))
    return out


def run_traced(
    events: list[dict[str, Any]], tmp_path: Path, daemon: socket.socket, endpoint: str
) -> list[Any]:
    paths = []
    for number, event in enumerate(events):
        path = tmp_path / f"event-{number}.json"
        path.write_text(json.dumps(event))
        paths.append(str(path))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"POWERTOOLS_TRACE_DISABLED", "CUTOUT_CACHE_DIR"}
    }
    env.update(
        LAMBDA_TASK_ROOT=str(tmp_path),
        AWS_LAMBDA_FUNCTION_NAME="cutout-api",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="2048",
        _X_AMZN_TRACE_ID=TRACE_ID,
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
        AWS_ENDPOINT_URL=endpoint,
        CUTOUT_CACHE_BUCKET="cache",
        CUTOUT_MEDIA_BUCKET="media",
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *paths],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    statuses: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return statuses


@pytest.mark.slow
def test_each_stage_and_each_s3_call_is_a_subsegment(
    tmp_path: Path, daemon: socket.socket, s3_endpoint: str
) -> None:
    from handler.aws.s3_client import s3_client

    client = s3_client()
    for bucket in ("cache", "media"):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket="media", Key="uploads/t.png", Body=encode_image(photo(40, 30)))
    api_event = load_event("api-v2", body=encode_image(photo(64, 48)))

    statuses = run_traced(
        [api_event, s3_event_for("media", "uploads/t.png")], tmp_path, daemon, s3_endpoint
    )

    assert statuses[0] == 200
    assert client.head_object(Bucket="media", Key="cutouts/t.png.png")["ContentType"] == "image/png"
    documents = flatten(received_documents(daemon))
    names = [document["name"] for document in documents]
    # Both handlers, each with a full pipeline: API (cache miss) and the S3 trigger.
    assert names.count("## lambda_handler") == 1
    assert names.count("## s3_handler") == 1
    for stage in ("decode", "inference", "compose", "encode"):
        assert names.count(stage) == 2, names
    s3_calls = [d for d in documents if d["name"] == "s3" and d.get("namespace") == "aws"]
    operations = {call["aws"]["operation"] for call in s3_calls}
    # The cache read and write on the API path; HeadObject, GetObject, PutObject on the trigger's.
    assert {"GetObject", "PutObject", "HeadObject"} <= operations
    assert {call["trace_id"] for call in documents if "trace_id" in call} == {
        "1-67891233-abcdef012345678912345678"
    }
    # Nested under their handler's subsegment, also where the API ran them in a worker thread.
    handler_ids = {d["id"] for d in documents if d["name"].startswith("## ")}
    work = [d for d in documents if d["name"] in {"decode", "inference", "encode", "s3"}]
    assert {d["parent_id"] for d in work} == handler_ids


def test_tracing_is_decided_by_the_environment() -> None:
    from handler.settings import tracing_enabled

    assert not tracing_enabled({})
    assert tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task"})
    assert not tracing_enabled({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"})
    assert not tracing_enabled(
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "True"}
    )
