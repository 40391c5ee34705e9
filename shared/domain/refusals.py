"""Refusals: why a request cannot be served, as a kind (never an HTTP status).

Services raise `Refusal`; `shared.http` is the one place that maps each kind to
a status, so every entry point answers the same failure the same way. A kind
says what went wrong from the caller's side: their input (`INVALID`), the
resource (`NOT_FOUND`, `CONFLICT`), who they are (`UNAUTHORISED`, `FORBIDDEN`),
or a dependency that may recover (`UNAVAILABLE`, `RATE_LIMITED`).
"""

from __future__ import annotations

import enum

from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)


class Kind(enum.StrEnum):
    INVALID = "invalid"
    """The input is malformed or breaks a rule; the field says which."""
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    """The resource's state forbids it (e.g. the user must re-authorize first)."""
    UNPROCESSABLE = "unprocessable"
    """Well formed, but contradicts what was stored (an Idempotency-Key reused)."""
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA = "unsupported_media"
    UNAUTHORISED = "unauthorised"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    """A dependency failed but may recover: retry later."""
    UPSTREAM = "upstream"
    """Google refused our request in a way retrying will not fix."""
    MISCONFIGURED = "misconfigured"
    INTERNAL = "internal"


class Refusal(Exception):
    """A request the product refuses: a kind, a message for the caller, the field at fault,
    and optionally Google's reason and a retry hint in seconds."""

    def __init__(
        self,
        kind: Kind,
        message: str,
        field: str | None = None,
        *,
        reason: str = "",
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.reason = reason
        self.retry_after = retry_after


def invalid(message: str, field: str | None = None) -> Refusal:
    return Refusal(Kind.INVALID, message, field)


def from_api_error(exc: ApiError, *, user: str = "", field: str | None = None) -> Refusal:
    """How a Google failure that survived retries is told to our caller; `field` names the
    input it concerns (the organizer, the user, the calendar)."""
    if isinstance(exc, AuthRevokedError):
        who = user or "the user"
        return Refusal(
            Kind.CONFLICT,
            f"authorization of {who} was revoked: the user must re-authorize",
            field or "organizer",
            reason=exc.reason,
        )
    if isinstance(exc, RateLimitedError):
        return Refusal(Kind.RATE_LIMITED, "Google rate limit reached; retry later", retry_after=30)
    if isinstance(exc, TransientError):
        return Refusal(Kind.UNAVAILABLE, "Google is unavailable; retry later", retry_after=5)
    if isinstance(exc, NotFoundError):
        return Refusal(Kind.NOT_FOUND, "calendar or resource not found", "calendarId")
    if isinstance(exc, ForbiddenError):
        return Refusal(
            Kind.FORBIDDEN,
            f"Google refused access: {exc.reason or exc.status}",
            field,
            reason=exc.reason,
        )
    return Refusal(
        Kind.UPSTREAM, f"Google rejected the request: {exc.reason or exc.status}", reason=exc.reason
    )
