"""Typed errors for every way Calendar, Meet and OAuth fail; the one mapping from HTTP.

Services catch these types, never HTTP status codes, so the decision "retry,
resync, re-read, give up" is made once per kind of failure. `from_response`
reads both Calendar's error body (`errors[].reason`) and the Google error
model used by Meet (`status`).
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A Google API call failed; `status` and `reason` come from the response."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class TransientError(ApiError):
    """5xx, timeouts, connection failures: safe to retry."""

    retryable = True


class RateLimitedError(TransientError):
    """403/429 usage limits: retry with backoff, then tell the caller to come back later."""


class FullSyncRequiredError(ApiError):
    """410 fullSyncRequired: the sync token is dead; drop it and sync in full."""


class GoneError(ApiError):
    """410 deleted: the resource was deleted already."""


class NotFoundError(ApiError):
    """404: the calendar, event or space does not exist (or is not visible to this user)."""


class DuplicateError(ApiError):
    """409 duplicate / ALREADY_EXISTS: the client-chosen id is taken; fetch what exists."""


class PreconditionFailedError(ApiError):
    """412 conditionNotMet: the etag was stale; re-read and decide again."""


class FailedPreconditionError(ApiError):
    """400 FAILED_PRECONDITION (Meet): e.g. no active conference to end."""


class ForbiddenError(ApiError):
    """403 that is not a rate limit: the user may not do this."""


class AuthRevokedError(ApiError):
    """The user's authorization is gone (invalid_grant, or 401 after a refresh)."""


class BadRequestError(ApiError):
    """400 for any other reason: our request is wrong; retrying will not help."""


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
