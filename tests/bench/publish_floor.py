"""The honest floor of the webhook benchmark: a bare functions-framework function that
makes the webhook's one confirmed publish and answers 202, nothing else.

The same client as `shared/store/pubsub.py` (a google-cloud-pubsub PublisherClient with the
product's batch settings and message ordering, made on the first publish and shared by the
threads), the same topic on the same Pub/Sub emulator, and per request a payload of the
webhook's signal size with its ordering key and attributes, answered only once Pub/Sub
returned the message id. No header parsing, no channel check, no logging, no JSON body:
what is left is what any function that confirms one publish pays.

Configured by the benchmark, which reads all of it from the product (`webhook.py`,
`signal_publish`), through the environment (read at import, so a missing variable stops
the start-up): BENCH_PUBLISH_TOPIC, BENCH_PUBLISH_BYTES, BENCH_PUBLISH_ORDERING_KEY,
BENCH_PUBLISH_ATTRIBUTES (a JSON object of strings), BENCH_PUBLISH_BATCH (JSON
[max_bytes, max_latency, max_messages]) and BENCH_PUBLISH_ORDERING ("1" or "0").
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import flask
import functions_framework

_PROJECT = os.environ["GOOGLE_CLOUD_PROJECT"]
_TOPIC = os.environ["BENCH_PUBLISH_TOPIC"]
_DATA = b"x" * int(os.environ["BENCH_PUBLISH_BYTES"])
_ORDERING_KEY = os.environ["BENCH_PUBLISH_ORDERING_KEY"]
_ATTRIBUTES: dict[str, str] = json.loads(os.environ["BENCH_PUBLISH_ATTRIBUTES"])
_BATCH: list[Any] = json.loads(os.environ["BENCH_PUBLISH_BATCH"])
_ORDERING = os.environ["BENCH_PUBLISH_ORDERING"] == "1"
_TIMEOUT = 10.0

_lock = threading.Lock()
_client: list[Any] = []
"""[PublisherClient, topic path] once made (after gunicorn forked, as the product's)."""


def _publisher() -> list[Any]:
    if not _client:
        with _lock:
            if not _client:
                from google.cloud import pubsub_v1  # type: ignore[attr-defined]
                from google.cloud.pubsub_v1.types import BatchSettings, PublisherOptions

                client = pubsub_v1.PublisherClient(
                    batch_settings=BatchSettings(*_BATCH),
                    publisher_options=PublisherOptions(enable_message_ordering=_ORDERING),
                )
                _client.extend([client, client.topic_path(_PROJECT, _TOPIC)])
    return _client


@functions_framework.http
def publish_floor(request: flask.Request) -> flask.Response:
    """POST: one confirmed publish, then 202; GET /_ready: 204 (readiness, no publish)."""
    if request.path == "/_ready":
        return flask.Response(status=204)
    client, topic = _publisher()
    future = client.publish(topic, _DATA, ordering_key=_ORDERING_KEY, **_ATTRIBUTES)
    future.result(timeout=_TIMEOUT)
    return flask.Response(status=202)
