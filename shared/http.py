"""HTTP plumbing shared by the HTTP entry points: JSON bodies in, JSON errors out.

Every rejection is a `RequestError` carrying the status, a message and the
offending field; `respond_error` renders it as `{"error": {"code", "message",
"field"}}`. `guard` turns the typed Google errors that escape a service into
clear answers (503 with Retry-After, 409 for revoked authorization) and
anything unexpected into a JSON 500 without a stack trace.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

import flask

from shared import logs
from shared.errors import (
    ApiError,
    AuthRevokedError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

_log = logs.get(__name__)
Handler = Callable[[flask.Request], flask.Response]


class RequestError(Exception):
    """A request we refuse; `status` is the HTTP answer."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, retry_after: int = 0
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, separators=(",", ":"), default=str),
        status=status,
        mimetype="application/json",
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def respond_error(error: RequestError) -> flask.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    body = {"error": {"code": error.status, "message": error.message, "field": error.field}}
    return respond(body, error.status, headers)


def json_http_errors() -> None:
    """Answer what Flask refuses before any function runs (a path no rule matches, such
    as one holding a line feed; a method a rule does not allow) in the JSON error shape,
    not Flask's HTML page. Registers on the app functions-framework is serving."""
    import functions_framework  # the serving framework; absent from pure-library use

    for status in (404, 405):
        functions_framework.errorhandler(status)(_framework_error)


def _framework_error(exc: Exception) -> flask.Response:
    status = int(getattr(exc, "code", None) or 500)
    return respond_error(RequestError(status, str(getattr(exc, "description", exc)), "path"))


def read_json(request: flask.Request, max_bytes: int) -> dict[str, Any]:
    """The JSON object body, or a RequestError (413, 415, 400) that says what is wrong."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise RequestError(413, f"body is larger than {max_bytes} bytes")
    if request.mimetype != "application/json":
        raise RequestError(415, "Content-Type must be application/json", "Content-Type")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise RequestError(413, f"body is larger than {max_bytes} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "body must be a JSON object")
    return body


def api_error_to_request_error(exc: ApiError, *, user: str = "") -> RequestError:
    """How a Google failure that survived retries is told to our caller."""
    if isinstance(exc, AuthRevokedError):
        who = user or "the user"
        return RequestError(
            409, f"authorization of {who} was revoked: the user must re-authorize", "organizer"
        )
    if isinstance(exc, RateLimitedError):
        return RequestError(503, "Google rate limit reached; retry later", retry_after=30)
    if isinstance(exc, TransientError):
        return RequestError(503, "Google is unavailable; retry later", retry_after=5)
    if isinstance(exc, NotFoundError):
        return RequestError(404, "calendar or resource not found", "calendarId")
    return RequestError(502, f"Google rejected the request: {exc.reason or exc.status}")


def guard(handler: Handler) -> Handler:
    """Wrap an entry point: execution id in every log line, typed errors to JSON answers."""

    @functools.wraps(handler)
    def wrapped(request: flask.Request) -> flask.Response:
        execution_id = request.headers.get("Function-Execution-Id") or uuid.uuid4().hex[:16]
        with logs.context(execution_id=execution_id, function=handler.__name__):
            try:
                return handler(request)
            except RequestError as exc:
                return respond_error(exc)
            except ApiError as exc:
                _log.warning("google call failed", extra={"error": str(exc)})
                return respond_error(api_error_to_request_error(exc))
            except Exception:
                _log.exception("unhandled error")
                return respond_error(RequestError(500, "internal error"))

    return wrapped
