"""Typed errors for every way Calendar, Meet, OAuth and Pub/Sub fail.

Services catch these types, never HTTP status codes, so the decision "retry,
resync, re-read, give up" is made once per kind of failure. The one mapping
from Google's HTTP answers to them is `shared.google.errors.from_response`.
"""

from __future__ import annotations


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


class BudgetExhaustedError(TransientError):
    """Our own Calendar budget (`shared.services.budget`) has no call to spare within the
    caller's wait: the work goes back to Pub/Sub and comes again after its backoff,
    rather than meeting Google's 403/429."""


class FullSyncRequiredError(ApiError):
    """410 fullSyncRequired: the sync token is dead; drop it and sync in full."""


class GoneError(ApiError):
    """410 deleted: the resource was deleted already."""


class NotFoundError(ApiError):
    """404: the calendar, event or space does not exist (or is not visible to this user)."""


class CalendarGoneError(NotFoundError):
    """Listing a calendar's events answered 404: the calendar is gone (or no longer
    visible to its owner), so its syncs stop rather than retry."""


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


class PublishError(TransientError):
    """Pub/Sub did not accept the message; the caller must not acknowledge its input."""


class IdentityError(ApiError):
    """An ID token failed verification (signature, issuer, audience, expiry) or is missing:
    who signed in is unknown, so nothing may be bound to anyone."""
