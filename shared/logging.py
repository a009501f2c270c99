"""Structured JSON logs carrying the request id or message id of the work in progress."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
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


def configure(process_name: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name))
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
