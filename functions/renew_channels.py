"""Entry point `renew_channels` (HTTP, called by Cloud Scheduler): renewal and sweep."""

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, read_json, respond
from shared.services.channels import maintenance_action


@functions_framework.http
@guard
def renew_channels(request: flask.Request) -> flask.Response:
    """`{"action": "renew"}` replaces expiring channels; `{"action": "sweep"}` enqueues a sync
    of every watched calendar (the only protection against dropped notifications)."""
    method(request, "POST")
    action = maintenance_action(read_json(request, wiring.settings().max_body_bytes))
    if action == "sweep":
        enqueued = wiring.sweeper().sweep()
        # a small bounded step: meetings past their end whose outcome is not known yet
        reconciled = wiring.meet_events().reconcile_due()
        return respond(
            {"enqueued": enqueued, "meetings": {k: len(v) for k, v in reconciled.items()}}
        )
    return respond(wiring.channel_service().renew().to_dict())
