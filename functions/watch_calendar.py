"""Entry point `watch_calendar` (HTTP, operator-only): start or stop watching a calendar."""

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, no_route, read_json, respond
from shared.services.channels import watch_target


@functions_framework.http
@guard
def watch_calendar(request: flask.Request) -> flask.Response:
    """POST /calendars starts watching (201, or 200 if already watched); DELETE stops."""
    if request.path.rstrip("/") != "/calendars":
        raise no_route(request, "use /calendars")
    method(request, "POST", "DELETE")
    user, calendar_id = watch_target(read_json(request, wiring.settings().max_body_bytes))
    service = wiring.channel_service()
    if request.method == "DELETE":
        return respond(service.unwatch(user, calendar_id))
    result = service.watch(user, calendar_id)
    return respond(result, 201 if result["created"] else 200)
