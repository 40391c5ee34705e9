"""Entry point `renew_channels` (HTTP, called by Cloud Scheduler): dispatches a renew or sweep
run over the `maintenance` topic and answers at once."""

import datetime as dt

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, read_json, respond
from shared.services.maintenance import dispatch_request


@functions_framework.http
@guard
def renew_channels(request: flask.Request) -> flask.Response:
    """`{"action": "renew"}` (the default) or `{"action": "sweep"}` (`"all": true` to sweep
    every watched calendar, not only the stale): one job per shard is published and the
    answer names the run (`meetsync` follows its reports). Each sweep job also reads the
    conference records its shard's meetings are due (`MeetEvents.reconcile_shard`)."""
    method(request, "POST")
    body = read_json(request, wiring.settings().max_body_bytes)
    parsed = dispatch_request(body)
    answer = wiring.maintenance().dispatch(parsed.kind, sweep_all=parsed.sweep_all)
    if parsed.kind == "sweep":
        # pending meetings whose completion job was lost get a new one (a bounded step)
        age = dt.timedelta(seconds=wiring.settings().pending_requeue_seconds)
        answer["meetings"] = {"requeued": len(wiring.meetings().requeue_stale(older_than=age))}
    return respond(answer)
