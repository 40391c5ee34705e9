"""Structured JSON logs in the shape Cloud Logging reads from stdout.

Each record is one JSON line with `severity`, `message`, `logger`, the fields
bound with `context()` (calendar, execution id, ...) and any `extra` fields.
Values of keys that name secrets (tokens, secrets, authorization) are replaced
before anything is written, wherever they are nested, so a careless call site
cannot leak a refresh token or channel token.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any

_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)
_SECRET_KEY_PARTS = (
    "token",
    "secret",
    "authorization",
    "password",
    "assertion",
    "api_key",
    "private_key",
    "credential",
)
_REDACTED = "[redacted]"
_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if lowered.endswith(("_hash", "token_version")):
        return False
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """Copy of `value` with every secret-named entry replaced, at any depth."""
    if isinstance(value, Mapping):
        return {
            str(k): (_REDACTED if _is_secret_key(str(k)) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line; Cloud Logging maps `severity` to the log level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(_CONTEXT.get() or {})
        entry.update({k: v for k, v in vars(record).items() if k not in _STD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry), default=str, separators=(",", ":"))


def configure(level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON; safe to call more than once."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("googleapiclient.discovery_cache", "urllib3", "google.auth"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Bind fields (calendar, execution_id, ...) to every record logged inside."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def get(name: str) -> logging.Logger:
    """A standard logger; structure comes from the formatter and `extra=`."""
    return logging.getLogger(name)
