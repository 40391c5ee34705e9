"""Entry point `import_events` (HTTP): `POST /?user=EMAIL&calendarId=primary` with a
`text/calendar` body; answers one result per VEVENT. The contract is
`functions/openapi.json`; `meetsync import` (meetsync_cli) is its command-line client.
"""

from __future__ import annotations

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, no_route, read_body, respond
from shared.services import importer

MAX_ICS_BYTES = 4 * 1024 * 1024
"""An .ics body is bigger than a JSON request; MAX_EVENTS bounds the work anyway."""


@functions_framework.http
@guard
def import_events(request: flask.Request) -> flask.Response:
    if (request.path.rstrip("/") or "/") != "/":
        raise no_route(request, "POST to /")
    method(request, "POST")
    user, calendar_id = importer.target(
        request.args.get("user") or request.headers.get("X-Meetsync-User"),
        request.args.get("calendarId") or request.headers.get("X-Meetsync-Calendar"),
    )
    items = wiring.parse_ics(read_body(request, MAX_ICS_BYTES, "text/calendar"))
    return respond({"results": wiring.importer().run(user, calendar_id, items)})
