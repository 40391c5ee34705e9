"""Entry point `calendar_webhook` (HTTP, public): Calendar push notification → change signal."""

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, respond


@functions_framework.http
@guard
def calendar_webhook(request: flask.Request) -> flask.Response:
    """2xx only once Pub/Sub has the signal; 503 (Google retries) if it could not be published."""
    method(request, "POST")
    accepted = wiring.signal_service().receive(request.headers)
    return respond(accepted.to_dict(), 202 if accepted.enqueued else 200)
