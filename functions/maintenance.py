"""Entry point `maintenance` (Pub/Sub CloudEvent): one shard job of a renew or sweep run."""

import functions_framework
from cloudevents.http import CloudEvent

from shared import logs, wiring


@functions_framework.cloud_event
def maintenance(event: CloudEvent) -> None:
    """Return acknowledges; an exception makes Pub/Sub retry (then dead-letter)."""
    with logs.context(execution_id=event["id"], function="maintenance"):
        wiring.maintenance().handle_push(event.data, message_id=event["id"])
