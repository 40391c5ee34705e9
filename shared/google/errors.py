"""The one mapping from Google's HTTP error answers to the domain's typed errors.

`from_response` reads both Calendar's error body (`errors[].reason`), OAuth's
(`{"error": "invalid_grant"}`) and the Google error model used by Meet (`status`).
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    BadRequestError,
    DuplicateError,
    FailedPreconditionError,
    ForbiddenError,
    FullSyncRequiredError,
    GoneError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitedError,
    TransientError,
)

_RATE_LIMIT_REASONS = frozenset(
    {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)


def _parse_body(body: bytes | str | None) -> tuple[str, str, str]:
    """(reason, status, message) from a Calendar or Google-error-model body."""
    if not body:
        return "", "", ""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", "", ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):  # OAuth: {"error": "invalid_grant", ...}
        return error, "", str(data.get("error_description", ""))
    if not isinstance(error, dict):
        return "", "", ""
    reason = ""
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = str(errors[0].get("reason", ""))
    return reason, str(error.get("status", "")), str(error.get("message", ""))


def from_response(status: int, body: bytes | str | None, *, what: str = "") -> ApiError:
    """Map one failed HTTP response to its typed error."""
    reason, grpc_status, message = _parse_body(body)
    text = f"{what}: HTTP {status} {reason or grpc_status} {message}".strip()
    kw: dict[str, Any] = {"status": status, "reason": reason or grpc_status}
    if status == 429 or reason in _RATE_LIMIT_REASONS or grpc_status == "RESOURCE_EXHAUSTED":
        return RateLimitedError(text, **kw)
    if status >= 500 or status in (408,):
        return TransientError(text, **kw)
    if status == 410:
        if reason == "fullSyncRequired":
            return FullSyncRequiredError(text, **kw)
        return GoneError(text, **kw)
    if status == 404:
        return NotFoundError(text, **kw)
    if status == 409:
        return DuplicateError(text, **kw)
    if status == 412:
        return PreconditionFailedError(text, **kw)
    if status == 401 or reason in ("invalid_grant", "unauthorized_client"):
        return AuthRevokedError(text, **kw)
    if status == 403:
        return ForbiddenError(text, **kw)
    if status == 400 and grpc_status == "FAILED_PRECONDITION":
        return FailedPreconditionError(text, **kw)
    return BadRequestError(text, **kw)
