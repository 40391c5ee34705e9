"""Entry point `meet_events` (Pub/Sub CloudEvent): one Google Workspace Event (Meet)."""

import functions_framework
from cloudevents.http import CloudEvent

from shared import logs, wiring


@functions_framework.cloud_event
def meet_events(event: CloudEvent) -> None:
    """Return acknowledges; an exception makes Pub/Sub retry (then dead-letter)."""
    with logs.context(execution_id=event["id"], function="meet_events"):
        wiring.meet_events().handle(event.data, message_id=event["id"])
