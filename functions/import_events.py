"""Entry point `import_events` (HTTP): `POST /?user=EMAIL&calendarId=primary` with a
`text/calendar` body; answers one result per VEVENT. The contract is
`functions/openapi.json`; `python -m shared.cli import` is its command-line client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import flask
import functions_framework

from shared import wiring
from shared.domain import meeting_request
from shared.domain.errors import ApiError
from shared.http import RequestError, api_error_to_request_error, guard, respond
from shared.services import meetings

if TYPE_CHECKING:
    from shared.services import importer

MAX_ICS_BYTES = 4 * 1024 * 1024
"""An .ics body is bigger than a JSON request; MAX_EVENTS bounds the work anyway."""
_STATUS = {meetings.UnknownOrganizer: 403, meetings.ReauthorizationRequired: 409}


@functions_framework.http
@guard
def import_events(request: flask.Request) -> flask.Response:
    if (request.path.rstrip("/") or "/") != "/":
        raise RequestError(404, f"no such resource {request.path}; POST to /", "path")
    if request.method != "POST":
        raise RequestError(405, f"{request.method} is not allowed here; use POST", "method")
    user, calendar_id = _target(request)
    items = _parse(_read(request))
    try:
        results = wiring.importer().run(user, calendar_id, items)
    except meetings.MeetingServiceError as exc:
        raise RequestError(_STATUS.get(type(exc), 400), exc.message, "user") from None
    except ApiError as exc:
        error = api_error_to_request_error(exc, user=user)
        if error.field == "organizer":
            error.field = "user"
        raise error from None
    return respond({"results": results})


def _target(request: flask.Request) -> tuple[str, str]:
    user = request.args.get("user") or request.headers.get("X-Meetsync-User")
    if not user:
        raise RequestError(400, "user (query parameter) is required", "user")
    try:
        email = meeting_request.parse_email(user, "user")
    except meeting_request.InvalidRequest as exc:
        raise RequestError(400, exc.message, exc.field) from None
    calendar_id = request.args.get("calendarId") or request.headers.get(
        "X-Meetsync-Calendar", "primary"
    )
    if "/" in calendar_id or len(calendar_id) > 255:
        raise RequestError(400, "calendarId must be a calendar id or primary", "calendarId")
    return email, calendar_id


def _read(request: flask.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_ICS_BYTES:
        raise RequestError(413, f"body is larger than {MAX_ICS_BYTES} bytes")
    if request.mimetype != "text/calendar":
        raise RequestError(415, "Content-Type must be text/calendar", "Content-Type")
    raw = request.stream.read(MAX_ICS_BYTES + 1)
    if len(raw) > MAX_ICS_BYTES:
        raise RequestError(413, f"body is larger than {MAX_ICS_BYTES} bytes")
    return bytes(raw)


def _parse(raw: bytes) -> list[importer.ImportItem]:
    from shared.services import importer  # icalendar: imported by the first import request

    try:
        return importer.parse_ics(raw)
    except importer.MalformedCalendar as exc:
        raise RequestError(400, str(exc), "body") from None
