from __future__ import annotations

import json

import pytest

from shared.domain import errors
from shared.google.errors import from_response


def calendar_body(code: int, reason: str, message: str = "m") -> bytes:
    return json.dumps(
        {
            "error": {
                "errors": [{"domain": "global", "reason": reason, "message": message}],
                "code": code,
                "message": message,
            }
        }
    ).encode()


def meet_body(code: int, status: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "m", "status": status}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (410, calendar_body(410, "fullSyncRequired"), errors.FullSyncRequiredError),
        (410, calendar_body(410, "deleted"), errors.GoneError),
        (404, calendar_body(404, "notFound"), errors.NotFoundError),
        (409, calendar_body(409, "duplicate"), errors.DuplicateError),
        (412, calendar_body(412, "conditionNotMet"), errors.PreconditionFailedError),
        (403, calendar_body(403, "userRateLimitExceeded"), errors.RateLimitedError),
        (403, calendar_body(403, "rateLimitExceeded"), errors.RateLimitedError),
        (403, calendar_body(403, "quotaExceeded"), errors.RateLimitedError),
        (429, calendar_body(429, "rateLimitExceeded"), errors.RateLimitedError),
        (403, calendar_body(403, "forbiddenForNonOrganizer"), errors.ForbiddenError),
        (401, calendar_body(401, "authError"), errors.AuthRevokedError),
        (
            400,
            b'{"error":"invalid_grant","error_description":"Token has been expired or revoked."}',
            errors.AuthRevokedError,
        ),
        (500, calendar_body(500, "backendError"), errors.TransientError),
        (503, b"<html>oops</html>", errors.TransientError),
        (429, meet_body(429, "RESOURCE_EXHAUSTED"), errors.RateLimitedError),
        (400, meet_body(400, "FAILED_PRECONDITION"), errors.FailedPreconditionError),
        (409, meet_body(409, "ALREADY_EXISTS"), errors.DuplicateError),
        (400, calendar_body(400, "invalid"), errors.BadRequestError),
    ],
)
def test_mapping(status: int, body: bytes, kind: type[errors.ApiError]) -> None:
    error = from_response(status, body, what="call")
    assert type(error) is kind
    assert error.status == status
    assert error.retryable == issubclass(kind, errors.TransientError)
