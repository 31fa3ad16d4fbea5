"""What every Lambda entry point shares: the end of the init phase, and the barrier that turns
any exception into one clean invocation error."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from handler import runtime
from handler.aws import snapstart
from handler.aws.observability import logger, record_cold_start
from handler.errors import CutoutError, InvocationFaultError

Handler = TypeVar("Handler", bound=Callable[..., Any])

_init_done: list[str] = []


def finish_init(entry: str) -> None:
    """The entry module is wired: log and meter the cold start once per process, and register
    the SnapStart hooks (where Lambda's runtime has them)."""
    if _init_done:  # handler.app's alias imported the trigger too: one init, one record
        return
    _init_done.append(entry)
    runtime.init_clock.mark("wiring")
    snapstart.register_hooks()
    record_cold_start(entry, runtime.init_clock)


def fault_barrier(*safe: type[Exception]) -> Callable[[Handler], Handler]:
    """The outermost wrapper: what leaves an invocation names no file but the barrier's own.

    CutoutError and the `safe` types (messages written to be shown; their type tells the
    runtime's caller what failed, e.g. a retry) leave as they are, with a stack trace of this
    one frame; anything else as InvocationFaultError with the request id. The log line keeps
    the whole trace.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def barrier(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            except Exception as exc:
                logger.exception("invocation failed", extra={"error_type": type(exc).__name__})
                if isinstance(exc, (CutoutError, *safe)):
                    raise exc.with_traceback(None) from None
                request_id = str(getattr(context, "aws_request_id", "") or "unknown")
                raise InvocationFaultError(
                    f"internal error in request {request_id}; the function's log has the details"
                ) from None

        return barrier  # type: ignore[return-value]

    return wrap
