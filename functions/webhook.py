"""Entry point `calendar_webhook` (HTTP, public): Calendar push notification → change signal."""

import flask
import functions_framework

from shared import logs, wiring
from shared.http import RequestError, guard, respond, respond_error
from shared.services.signals import NotificationError, parse_notification
from shared.store.pubsub import PublishError

_log = logs.get(__name__)


@functions_framework.http
@guard
def calendar_webhook(request: flask.Request) -> flask.Response:
    """2xx only once Pub/Sub has the signal; 503 (Google retries) if it could not be published."""
    if request.method != "POST":
        raise RequestError(405, "notifications are POSTed")
    try:
        notification = parse_notification(dict(request.headers))
        status, body = wiring.signal_service().accept(notification)
    except NotificationError as exc:
        _log.warning("notification rejected", extra={"reason": str(exc), "status": exc.status})
        return respond_error(RequestError(exc.status, str(exc), exc.field))
    except PublishError:
        _log.exception("could not enqueue change signal")
        return respond_error(RequestError(503, "could not enqueue the change", retry_after=5))
    return respond(body, status)
