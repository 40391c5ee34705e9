from __future__ import annotations

import io
import json
import logging

from shared import logs


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(f"test.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_records_are_json_with_severity_context_and_fields() -> None:
    logger, stream = capture()
    with logs.context(calendar="alice:primary", execution_id="e1"):
        logger.warning("synced %d events", 3, extra={"pages": 2})
    entry = json.loads(stream.getvalue())
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "synced 3 events"
    assert entry["calendar"] == "alice:primary" and entry["execution_id"] == "e1"
    assert entry["pages"] == 2


def test_context_does_not_leak_after_block() -> None:
    logger, stream = capture()
    with logs.context(calendar="c"):
        pass
    logger.info("later")
    assert "calendar" not in json.loads(stream.getvalue())


def test_secrets_are_redacted_at_any_depth() -> None:
    logger, stream = capture()
    logger.error(
        "oops",
        extra={
            "refresh_token": "1//secret-refresh",
            "request": {"headers": {"Authorization": "Bearer ya29.secret"}, "channel_token": "ct"},
            "token_hash": "abc",
            "items": [{"client_secret": "x"}],
        },
    )
    text = stream.getvalue()
    for secret in ("1//secret-refresh", "ya29.secret", '"ct"', '"x"'):
        assert secret not in text
    assert json.loads(text)["token_hash"] == "abc"
