"""HTTP plumbing shared by the HTTP entry points: JSON bodies in, JSON errors out.

The one mapping of refusal kinds to HTTP statuses (`STATUS`). Every rejection is a
`Refusal` carrying its kind, a message and the offending field; `respond_error`
renders it as `{"error": {"code", "kind", "message", "field"}}` (plus Google's
`reason` when there is one). `guard` turns the typed Google errors that escape a
service into the same shape (503 with Retry-After, 409 for revoked authorization)
and anything unexpected into a JSON 500 without a stack trace. `guard_pages` does the
same for the browser-facing connect flow, as a small HTML page unless the client asks
for JSON (`Accept: application/json`).
"""

from __future__ import annotations

import functools
import html
import json
import uuid
from collections.abc import Callable
from typing import Any

import flask

from shared import logs
from shared.domain.errors import ApiError
from shared.domain.refusals import Kind, Refusal, from_api_error
from shared.domain.signin import Cookie

_log = logs.get(__name__)
Handler = Callable[[flask.Request], flask.Response]


STATUS: dict[Kind, int] = {
    Kind.INVALID: 400,
    Kind.UNAUTHORISED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.METHOD_NOT_ALLOWED: 405,
    Kind.CONFLICT: 409,
    Kind.TOO_LARGE: 413,
    Kind.UNSUPPORTED_MEDIA: 415,
    Kind.UNPROCESSABLE: 422,
    Kind.INTERNAL: 500,
    Kind.MISCONFIGURED: 500,
    Kind.UPSTREAM: 502,
    Kind.UNAVAILABLE: 503,
    Kind.RATE_LIMITED: 503,
}
"""Refusal kind → HTTP status, for every entry point."""

_KIND_OF_STATUS = {404: Kind.NOT_FOUND, 405: Kind.METHOD_NOT_ALLOWED}


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, separators=(",", ":"), default=str),
        status=status,
        mimetype="application/json",
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def respond_error(refusal: Refusal) -> flask.Response:
    status = STATUS[refusal.kind]
    headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else None
    error: dict[str, Any] = {
        "code": status,
        "kind": refusal.kind.value,
        "message": refusal.message,
        "field": refusal.field,
    }
    if refusal.reason:
        error["reason"] = refusal.reason
    return respond({"error": error}, status, headers)


def method(request: flask.Request, *allowed: str) -> None:
    """Refuse a method the route does not serve, naming the ones it does."""
    if request.method not in allowed:
        raise Refusal(
            Kind.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed here; use {' or '.join(allowed)}",
            "method",
        )


def no_route(request: flask.Request, hint: str) -> Refusal:
    """The refusal for a path this function does not serve, saying what it does serve."""
    return Refusal(Kind.NOT_FOUND, f"no such resource {request.path}; {hint}", "path")


def json_http_errors() -> None:
    """Answer what Flask refuses before any function runs (a path no rule matches, such
    as one holding a line feed; a method a rule does not allow) in the JSON error shape,
    not Flask's HTML page. Registers on the app functions-framework is serving."""
    import functions_framework  # the serving framework; absent from pure-library use

    for status in (404, 405):
        functions_framework.errorhandler(status)(_framework_error)


def _framework_error(exc: Exception) -> flask.Response:
    kind = _KIND_OF_STATUS.get(int(getattr(exc, "code", None) or 500), Kind.INTERNAL)
    return respond_error(Refusal(kind, str(getattr(exc, "description", exc)), "path"))


def read_json(request: flask.Request, max_bytes: int) -> dict[str, Any]:
    """The JSON object body, or a Refusal (too large, wrong media type, invalid)."""
    raw = read_body(request, max_bytes, "application/json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(Kind.INVALID, f"body is not valid JSON: {exc}", "body") from None
    if not isinstance(body, dict):
        raise Refusal(Kind.INVALID, "body must be a JSON object", "body")
    return body


def read_body(request: flask.Request, max_bytes: int, mimetype: str) -> bytes:
    """The raw body of the given media type, at most `max_bytes` (read no further)."""
    too_large = Refusal(Kind.TOO_LARGE, f"body is larger than {max_bytes} bytes", "body")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise too_large
    if request.mimetype != mimetype:
        raise Refusal(Kind.UNSUPPORTED_MEDIA, f"Content-Type must be {mimetype}", "Content-Type")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise too_large
    return bytes(raw)


def _guarded(
    handler: Handler, render: Callable[[flask.Request, Refusal], flask.Response]
) -> Handler:
    @functools.wraps(handler)
    def wrapped(request: flask.Request) -> flask.Response:
        execution_id = request.headers.get("Function-Execution-Id") or uuid.uuid4().hex[:16]
        with logs.context(execution_id=execution_id, function=handler.__name__):
            try:
                return handler(request)
            except Refusal as exc:
                return render(request, exc)
            except ApiError as exc:
                _log.warning("google call failed", extra={"error": str(exc)})
                return render(request, from_api_error(exc))
            except Exception:
                _log.exception("unhandled error")
                return render(request, Refusal(Kind.INTERNAL, "internal error"))

    return wrapped


def guard(handler: Handler) -> Handler:
    """Wrap an entry point: execution id in every log line, typed errors to JSON answers."""
    return _guarded(handler, lambda _request, refusal: respond_error(refusal))


def guard_pages(handler: Handler) -> Handler:
    """`guard` for pages a browser opens: refusals as an HTML page, or JSON when asked."""
    return _guarded(handler, respond_error_page)


# -- pages for browsers (the connect flow) ------------------------------------------------

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
"""Pages may sit at a URL holding a sign-in code: never cached, never sent as a referrer."""


def wants_json(request: flask.Request) -> bool:
    """The client prefers JSON to HTML (a browser never does)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def page(title: str, body_html: str, status: int = 200) -> flask.Response:
    """A small self-contained HTML page; `body_html` must already be escaped."""
    text = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:3em auto;line-height:1.5}"
        "</style></head><body>\n"
        f"{body_html}\n</body></html>\n"
    )
    response = flask.Response(text, status=status, mimetype="text/html")
    response.headers.update(_PAGE_HEADERS)
    return response


def respond_error_page(request: flask.Request, refusal: Refusal) -> flask.Response:
    """A refusal as a page a person can read (its reason as a code), or as JSON when asked."""
    if wants_json(request):
        response = respond_error(refusal)
        response.headers.update(_PAGE_HEADERS)
        return response
    status = STATUS[refusal.kind]
    reason = refusal.reason or refusal.kind.value
    body = (
        '<h1 id="title">Could not connect your Google account</h1>\n'
        f'<p id="error" data-reason="{html.escape(reason)}">{html.escape(refusal.message)}</p>\n'
        f'<p>Error {status}: <code id="reason">{html.escape(reason)}</code></p>'
    )
    return page("Could not connect", body, status)


def redirect(location: str, *cookies: Cookie) -> flask.Response:
    """302 to `location`, setting (or, with max_age 0, deleting) cookies. HttpOnly and
    SameSite=Lax: sent back on Google's top-level redirect, never readable by scripts."""
    response = flask.Response("", status=302)
    response.headers["Location"] = location
    response.headers.update(_PAGE_HEADERS)
    for cookie in cookies:
        set_cookie(response, cookie)
    return response


def set_cookie(response: flask.Response, cookie: Cookie) -> flask.Response:
    response.set_cookie(
        cookie.name,
        cookie.value,
        max_age=cookie.max_age,
        path=cookie.path,
        secure=cookie.secure,
        httponly=True,
        samesite="Lax",
    )
    return response
