"""Entry point `create_meeting` (HTTP): `POST /meetings`, `GET` and `PATCH /meetings/{id}`.

Validation (no Google call for a bad request) and the use case are the meeting
service's; refusals become JSON answers in `shared.http`. The contract is
`functions/openapi.json`: 201 settled (ready or failed), 202 pending with a completion
job queued (the server finishes it), 5xx nothing the server will finish.
"""

from __future__ import annotations

import re

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, no_route, read_json, respond

_MEETING_PATH = re.compile(r"^/meetings/([^/]+)/?$")


@functions_framework.http
@guard
def create_meeting(request: flask.Request) -> flask.Response:
    path = request.path.rstrip("/") or "/"
    if path == "/meetings":
        method(request, "POST")
        settings = wiring.settings()
        meeting = wiring.meetings().submit(
            read_json(request, settings.max_body_bytes),
            request.headers.get("Idempotency-Key"),
            max_attendees=settings.max_attendees,
        )
        status = 202 if meeting.pending else 201
        return respond(meeting.public(), status, {"Location": f"/meetings/{meeting.id}"})
    match = _MEETING_PATH.match(request.path)
    if match:
        method(request, "GET", "PATCH")
        if request.method == "PATCH":
            body = read_json(request, wiring.settings().max_body_bytes)
            return respond(wiring.meetings().update_settings(match.group(1), body).public())
        return respond(wiring.meetings().get(match.group(1)).public())
    raise no_route(request, "use /meetings")
