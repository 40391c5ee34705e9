"""Error bodies in the exact shapes each Google API uses.

Handlers raise :class:`ApiError`; the server turns it into a response. Keeping the
shapes in one place is what lets client libraries classify our errors like Google's.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_REASON = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    410: "deleted",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}

_DEFAULT_MESSAGE = {
    400: "Bad Request",
    401: "Invalid Credentials",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Resource has been deleted",
    412: "Precondition Failed",
    429: "Rate Limit Exceeded",
    500: "Backend Error",
    502: "Bad Gateway",
    503: "Backend Error",
    504: "Backend Error",
}

_USAGE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"}


class ApiError(Exception):
    """An HTTP error answer, body already in the API's own shape."""

    def __init__(self, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def grpc_status(code: int) -> str:
    """The google.rpc status name used by the Google error model for an HTTP code."""
    return _GRPC_STATUS.get(code, "UNKNOWN" if code >= 500 else "INVALID_ARGUMENT")


def calendar_error(
    code: int,
    reason: str | None = None,
    message: str | None = None,
    *,
    domain: str | None = None,
    location_type: str | None = None,
    location: str | None = None,
) -> ApiError:
    """Calendar v3's legacy error body: ``{"error": {"errors": [...], "code", "message"}}``."""
    reason = reason or _DEFAULT_REASON.get(code, "backendError")
    message = message or _DEFAULT_MESSAGE.get(code, "Error")
    if domain is None:
        domain = "usageLimits" if reason in _USAGE_REASONS else "global"
        if reason == "fullSyncRequired":
            domain = "calendar"
    item: JSON = {"domain": domain, "reason": reason, "message": message}
    if location_type:
        item["locationType"] = location_type
    if location:
        item["location"] = location
    return ApiError(code, {"error": {"errors": [item], "code": code, "message": message}})


def calendar_auth_error() -> ApiError:
    """401 exactly as Calendar answers a missing, bad or expired bearer token."""
    err = calendar_error(
        401,
        "authError",
        "Invalid Credentials",
        location_type="header",
        location="Authorization",
    )
    err.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return err


def bad_param(name: str, message: str = "Invalid Value", reason: str = "invalid") -> ApiError:
    """A 400 pointing at one query parameter."""
    return calendar_error(400, reason, message, location_type="parameter", location=name)


def full_sync_required() -> ApiError:
    """The 410 body that tells a client to drop its sync token."""
    return calendar_error(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location_type="parameter",
        location="syncToken",
    )


def meet_error(code: int, message: str | None = None, status: str | None = None) -> ApiError:
    """The Google error model used by Meet v2: ``{"error": {"code", "message", "status"}}``."""
    status = status or grpc_status(code)
    defaults = {
        401: "Request had invalid authentication credentials. Expected OAuth 2 access token,"
        " login cookie or other valid authentication credential.",
        403: "The caller does not have permission",
        404: "Requested entity was not found.",
        429: "Resource has been exhausted (e.g. check quota).",
        503: "The service is currently unavailable.",
    }
    message = message or defaults.get(code, status.replace("_", " ").capitalize())
    err = ApiError(code, {"error": {"code": code, "message": message, "status": status}})
    if code == 401:
        err.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return err


def oauth_error(code: int, error: str, description: str | None = None) -> ApiError:
    """The OAuth 2.0 token endpoint error body (RFC 6749 section 5.2)."""
    body: JSON = {"error": error}
    if description:
        body["error_description"] = description
    return ApiError(code, body)


def error_for_api(api: str, code: int, reason: str | None, message: str | None) -> ApiError:
    """An injected fault in the body shape of the API it hits."""
    if api in ("meet", "events"):
        return meet_error(code, message)
    if api == "oauth":
        return oauth_error(code, reason or ("server_error" if code >= 500 else "invalid_request"))
    return calendar_error(code, reason, message)
