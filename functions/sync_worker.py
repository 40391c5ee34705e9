"""Entry point `sync_worker` (Pub/Sub CloudEvent): one change signal, one calendar sync."""

import functions_framework
from cloudevents.http import CloudEvent

from shared import logs, wiring


@functions_framework.cloud_event
def sync_worker(event: CloudEvent) -> None:
    """Return acknowledges; an exception makes Pub/Sub retry (then dead-letter)."""
    with logs.context(execution_id=event["id"], function="sync_worker"):
        wiring.worker().handle(event.data, message_id=event["id"])
