"""Entry point `watch_calendar` (HTTP, operator-only): start or stop watching a calendar."""

import flask
import functions_framework

from shared import wiring
from shared.http import RequestError, guard, read_json, respond
from shared.services.channels import WatchError


def _target(request: flask.Request) -> tuple[str, str]:
    body = read_json(request, wiring.settings().max_body_bytes)
    user, calendar_id = body.get("user"), body.get("calendarId", "primary")
    if not isinstance(user, str) or "@" not in user:
        raise RequestError(400, "user must be an email address", "user")
    if not isinstance(calendar_id, str) or not calendar_id or "/" in calendar_id:
        raise RequestError(400, "calendarId must be a calendar id", "calendarId")
    return user, calendar_id


@functions_framework.http
@guard
def watch_calendar(request: flask.Request) -> flask.Response:
    """POST /calendars starts watching (201, or 200 if already watched); DELETE stops."""
    if request.path.rstrip("/") != "/calendars":
        raise RequestError(404, f"no route {request.path}")
    if request.method not in ("POST", "DELETE"):
        raise RequestError(405, "use POST to watch or DELETE to stop watching")
    user, calendar_id = _target(request)
    service = wiring.channel_service()
    try:
        if request.method == "DELETE":
            return respond(service.unwatch(user, calendar_id))
        result = service.watch(user, calendar_id)
    except WatchError as exc:
        raise RequestError(exc.status, str(exc), exc.field) from None
    return respond(result, 201 if result["created"] else 200)
