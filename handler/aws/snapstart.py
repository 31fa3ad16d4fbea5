"""Lambda SnapStart: the snapshot holds the finished init phase (imports, ONNX session, warm-up
run); what must differ between the environments restored from it is renewed after the restore.

Lambda's Python runtime ships the hooks module (snapshot_restore_py, also on PyPI as
snapshot-restore-py); where it is absent nothing is registered and nothing changes.
"""

from __future__ import annotations

import random
import sys
import tempfile

from handler import runtime
from handler.aws.observability import logger, metrics

HOOKS_MODULE = "snapshot_restore_py"
COLD_START_FLAG_MODULES = (
    "aws_lambda_powertools.logging.logger",
    "aws_lambda_powertools.metrics.provider.cold_start",
    "aws_lambda_powertools.tracing.tracer",
)


def before_snapshot() -> None:
    """The warm-up run is part of what the snapshot keeps (a no-op when init already ran it)."""
    runtime.warm_up()


def after_restore() -> None:
    """Renew per-environment state: every restored copy would otherwise share it."""
    random.seed()  # from os.urandom: each copy its own sequence
    tempfile.tempdir = None  # re-read TMPDIR and re-probe the temp folder of this environment
    tempfile._name_sequence = None  # type: ignore[attr-defined]  # its own Random, seeded once
    # A fresh S3 client (and connection pool: sockets in a snapshot are dead) with credentials
    # resolved in this environment; the cache, if on S3, takes the new one. boto3 is only
    # imported where a process uses S3 already.
    if "handler.aws.s3_client" in sys.modules:
        from handler.aws.s3_client import s3_client

        s3_client.cache_clear()
        cache = runtime.service.cache
        if runtime.settings.cache_bucket and hasattr(cache, "client"):
            cache.client = s3_client()
    _rearm_cold_start_flags()
    # The init phase's metrics were paid once, by the environment the snapshot came from.
    metrics.clear_metrics()
    logger.info("restored from snapshot", extra={"entry": "snapstart"})


def _rearm_cold_start_flags() -> None:
    """Powertools' ColdStart flags (module globals of its logger, metrics and tracer), so the
    first invocation after a restore counts as one even if one ran before the snapshot."""
    for name in COLD_START_FLAG_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            setattr(module, "is_cold_start", True)  # noqa: B010


def register_hooks() -> bool:
    """Register both hooks with Lambda's runtime; False where the hooks module is absent."""
    try:
        hooks = __import__(HOOKS_MODULE)
    except ImportError:
        return False
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(after_restore)
    return True
