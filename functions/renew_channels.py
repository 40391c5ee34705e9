"""Entry point `renew_channels` (HTTP, called by Cloud Scheduler): renewal and sweep."""

import flask
import functions_framework

from shared import wiring
from shared.http import RequestError, guard, read_json, respond


@functions_framework.http
@guard
def renew_channels(request: flask.Request) -> flask.Response:
    """`{"action": "renew"}` replaces expiring channels; `{"action": "sweep"}` enqueues a sync
    of every watched calendar (the only protection against dropped notifications)."""
    if request.method != "POST":
        raise RequestError(405, "use POST")
    body = read_json(request, wiring.settings().max_body_bytes)
    action = body.get("action", "renew")
    if action == "renew":
        return respond(wiring.channel_service().renew().to_dict())
    if action == "sweep":
        return respond({"enqueued": wiring.sweep()})
    raise RequestError(400, "action must be 'renew' or 'sweep'", "action")
