"""Entry point `create_meeting` (HTTP): `POST /meetings`, `GET /meetings/{id}`.

Parses and validates the request (no Google call for a bad one), runs the
meeting service, and maps its typed errors to JSON answers. The contract is
`functions/openapi.json`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import flask
import functions_framework

from shared import wiring
from shared.domain import meeting_request
from shared.domain.models import Meeting, MeetingStatus
from shared.domain.errors import ApiError
from shared.http import RequestError, api_error_to_request_error, guard, read_json, respond
from shared.services import meetings

_MEETING_PATH = re.compile(r"^/meetings/([^/]+)/?$")
_STATUS = {
    meetings.UnknownOrganizer: 403,
    meetings.ReauthorizationRequired: 409,
    meetings.IdempotencyConflict: 422,
    meetings.MeetingNotFound: 404,
}


@functions_framework.http
@guard
def create_meeting(request: flask.Request) -> flask.Response:
    path = request.path.rstrip("/") or "/"
    if path == "/meetings":
        _allow(request, "POST")
        return _create(request)
    match = _MEETING_PATH.match(request.path)
    if match:
        _allow(request, "GET")
        return _get(match.group(1))
    raise RequestError(404, f"no such resource {request.path}; use /meetings", "path")


def _allow(request: flask.Request, method: str) -> None:
    if request.method != method:
        raise RequestError(405, f"{request.method} is not allowed here; use {method}", "method")


def _create(request: flask.Request) -> flask.Response:
    settings = wiring.settings()
    body = read_json(request, settings.max_body_bytes)
    try:
        key = meeting_request.check_idempotency_key(request.headers.get("Idempotency-Key"))
        parsed = meeting_request.parse(body, max_attendees=settings.max_attendees)
    except meeting_request.InvalidRequest as exc:
        raise RequestError(400, exc.message, exc.field) from None
    meeting = _run(lambda: wiring.meetings().create(parsed, key), parsed.organizer)
    status = 202 if meeting.status == MeetingStatus.PENDING else 201
    return respond(meeting.public(), status, {"Location": f"/meetings/{meeting.id}"})


def _get(meeting_id: str) -> flask.Response:
    meeting = _run(lambda: wiring.meetings().get(meeting_id), "")
    return respond(meeting.public())


def _run(call: Callable[[], Meeting], user: str) -> Meeting:
    try:
        return call()
    except meetings.MeetingServiceError as exc:
        raise RequestError(_STATUS.get(type(exc), 400), exc.message, exc.field) from None
    except ApiError as exc:
        raise api_error_to_request_error(exc, user=user) from None
