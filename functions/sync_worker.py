"""Entry point `sync_worker` (Pub/Sub CloudEvent)."""

import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def sync_worker(event: CloudEvent) -> None:
    """Not built yet."""
