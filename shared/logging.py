"""Structured JSON logs carrying the request id or message id of the work in progress."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)
org_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("org_id", default=None)


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "process": self.process_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (("request_id", request_id), ("message_id", message_id), ("org_id", org_id)):
            value = var.get()
            if value:
                doc[key] = value
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            doc.update(extra)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class OutageFilter(logging.Filter):
    """Tracebacks are for bugs: a record carrying a `DependencyUnavailable` (an outage, reported once
    per interval where it was raised) loses its traceback and becomes an INFO line naming the cause.

    This is what keeps, for instance, Dramatiq's "Failed to process message ... with unhandled
    exception" from writing a traceback per message while PostgreSQL is down (the message is
    retried as usual, and counted in the metrics).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name == "asyncio" and _lost_connect(exc):
            return False
        outage = _outage(exc)
        if outage is not None:
            record.msg, record.args = f"{record.getMessage()} ({outage})", ()
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _lost_connect(exc: BaseException | None) -> bool:
    """asyncpg's "unexpected connection_lost() call": a connection attempt cancelled (by an acquire
    timeout) just as its TCP connection opened leaves this exception in a future nobody awaits, which
    asyncio reports with a traceback when the future is collected. While a database hangs that is
    one traceback per timed-out connection attempt, carrying nothing the dependency's warning does
    not already say."""
    return isinstance(exc, ConnectionError) and str(exc) == "unexpected connection_lost() call"


def _outage(exc: BaseException | None) -> str | None:
    """`exc`'s outage, if it is (or was caused by) a `DependencyUnavailable`."""
    from shared.health import DependencyUnavailable  # health imports this module

    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, DependencyUnavailable):
            return str(exc)
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def configure(process_name: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name))
    handler.addFilter(OutageFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dramatiq"):
        # One format for everything: route uvicorn's and Dramatiq's own loggers through ours.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log(logger: logging.Logger, level: int, msg: str, **fields: object) -> None:
    logger.log(level, msg, extra={"fields": fields})


@contextlib.contextmanager
def bound_org(value: str | None) -> Iterator[None]:
    """Log lines written inside carry `org_id`."""
    token = org_id.set(value)
    try:
        yield
    finally:
        org_id.reset(token)


class _Throttle:
    """When each dependency was last reported unavailable, and how many reports were held back since."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}


_throttle = _Throttle()


def describe(cause: BaseException | str) -> str:
    """An exception as a short cause (`TimeoutError` alone when it has no message)."""
    if isinstance(cause, str):
        return cause
    text = str(cause).split("\n")[0]
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def dependency_unavailable(
    logger: logging.Logger, dependency: str, cause: BaseException | str, *, interval: float | None = None
) -> bool:
    """Reports that `dependency` (e.g. `PostgreSQL database orders at 10.0.0.5:5432`) did not answer:
    one WARNING line per dependency per interval (DEPENDENCY_WARNING_SECONDS), naming the cause and
    how many failures were held back since the last line, and no traceback (an outage is not a bug;
    tracebacks are for bugs). Every failure is counted in `dependency_unavailable_total`.
    Returns whether a line was written."""
    from shared.metrics import DEPENDENCY_UNAVAILABLE  # metrics imports this module

    DEPENDENCY_UNAVAILABLE.labels(dependency).inc()
    if interval is None:
        from shared.config import get_settings

        interval = float(get_settings().dependency_warning_seconds)
    now = time.monotonic()
    with _throttle.lock:
        last = _throttle.last.get(dependency)
        if last is not None and now - last < interval:
            _throttle.held[dependency] = _throttle.held.get(dependency, 0) + 1
            return False
        _throttle.last[dependency] = now
        held = _throttle.held.pop(dependency, 0)
    log(
        logger,
        logging.WARNING,
        f"{dependency} unavailable: {describe(cause)}",
        dependency=dependency,
        cause=describe(cause),
        failures_since_last_warning=held,
    )
    return True


def dependency_available(logger: logging.Logger, dependency: str) -> None:
    """Says once that `dependency` answers again, if it was reported unavailable (cheap otherwise)."""
    if dependency not in _throttle.last:
        return
    with _throttle.lock:
        if _throttle.last.pop(dependency, None) is None:
            return
        held = _throttle.held.pop(dependency, 0)
    log(logger, logging.INFO, f"{dependency} available again", dependency=dependency, failures_since_last_warning=held)
