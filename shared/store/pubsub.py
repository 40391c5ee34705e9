"""Pub/Sub publisher: the one way messages leave the product.

`publish` returns only once Pub/Sub has accepted the message (the webhook's 2xx
depends on it). Ordering keys keep one calendar's signals in order; after a
failed publish on a key, the key is resumed so later messages are not refused.
google-cloud-pubsub is imported, and the client made, on the first publish, not with
this module (the webhook starts without it) nor with the
`Publisher` (services that may publish are built by requests that never do).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.errors import PublishError
from shared.domain.ports import Message

if TYPE_CHECKING:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

_PUBLISH_TIMEOUT = 10.0


def _publisher_client() -> pubsub_v1.PublisherClient:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]
    from google.cloud.pubsub_v1.types import BatchSettings, PublisherOptions

    return pubsub_v1.PublisherClient(
        batch_settings=BatchSettings(max_latency=0.001, max_messages=100),
        publisher_options=PublisherOptions(enable_message_ordering=True),
    )


class Publisher:
    """One PublisherClient per instance, message ordering on."""

    def __init__(self, project: str, client: pubsub_v1.PublisherClient | None = None) -> None:
        self.project = project
        self._client = client
        self._lock = threading.Lock()
        self._paths: dict[str, str] = {}

    @property
    def client(self) -> pubsub_v1.PublisherClient:
        """The client, made on first use; one per Publisher even under concurrent requests."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _publisher_client()
        return self._client

    def topic_path(self, topic: str) -> str:
        """The topic's full path, built once (it is on the webhook's hot path)."""
        path = self._paths.get(topic)
        if path is None:
            path = self._paths[topic] = str(self.client.topic_path(self.project, topic))
        return path

    def publish(
        self,
        topic: str,
        data: dict[str, Any],
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        """Publish JSON `data`; block until accepted; return the message id."""
        path = self.topic_path(topic)
        payload = json.dumps(data, separators=(",", ":"), default=str).encode()
        try:
            future = self.client.publish(
                path, payload, ordering_key=ordering_key, **(attributes or {})
            )
            return str(future.result(timeout=_PUBLISH_TIMEOUT))
        except Exception as exc:  # the future raises whatever the transport saw
            if ordering_key:
                self._resume(path, ordering_key)
            raise PublishError(f"publish to {topic} failed: {type(exc).__name__}") from exc

    def _resume(self, path: str, ordering_key: str) -> None:
        """Let later messages of the key be published again after a failure. A key that is
        not paused (the wait timed out before the publish failed, or a concurrent failure
        resumed it first) raises RuntimeError in the library: nothing to resume then, and
        the caller's PublishError must not turn into that."""
        with contextlib.suppress(RuntimeError):
            self.client.resume_publish(path, ordering_key)

    def publish_many(self, topic: str, messages: Sequence[Message]) -> list[str]:
        """Publish all, then wait for all (the client batches them); raise `PublishError`
        if any was refused."""
        path = self.topic_path(topic)
        futures = [
            self.client.publish(
                path,
                json.dumps(m.data, separators=(",", ":"), default=str).encode(),
                ordering_key=m.ordering_key,
                **m.attributes,
            )
            for m in messages
        ]
        ids: list[str] = []
        failed: Exception | None = None
        for message, future in zip(messages, futures, strict=True):
            try:
                ids.append(str(future.result(timeout=_PUBLISH_TIMEOUT)))
            except Exception as exc:  # keep waiting on the rest, then report
                failed = failed or exc
                if message.ordering_key:
                    self._resume(path, message.ordering_key)
        if failed is not None:
            raise PublishError(f"publish to {topic} failed: {type(failed).__name__}") from failed
        return ids


class TopicSink:
    """The `EventSink` port on a topic: structured CloudEvents, with `ce-` attributes too."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic

    def emit(self, event: dict[str, Any], *, ordering_key: str) -> None:
        self._publisher.publish(
            self._topic,
            event,
            ordering_key=ordering_key,
            attributes={
                "ce-id": str(event["id"]),
                "ce-type": str(event["type"]),
                "ce-source": str(event["source"]),
                "ce-specversion": "1.0",
                "content-type": "application/cloudevents+json",
            },
        )
