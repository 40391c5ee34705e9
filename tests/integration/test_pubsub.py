"""The publisher against the real Pub/Sub emulator: a subscriber receives what was published."""

from __future__ import annotations

import json
import uuid

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from devstack.stack import Stack
from shared.domain.errors import PublishError
from shared.domain.ports import Message
from shared.store.pubsub import Publisher


def test_published_message_reaches_a_subscriber_in_order(emulators: Stack) -> None:
    publisher = Publisher(emulators.project)
    subscriber = pubsub_v1.SubscriberClient()
    topic = f"t-{uuid.uuid4().hex[:8]}"
    publisher.client.create_topic(name=publisher.topic_path(topic))
    sub_path = subscriber.subscription_path(emulators.project, f"s-{topic}")
    subscriber.create_subscription(
        request={
            "name": sub_path,
            "topic": publisher.topic_path(topic),
            "enable_message_ordering": True,
        }
    )
    ids = [
        publisher.publish(topic, {"n": n}, ordering_key="cal", attributes={"kind": "test"})
        for n in range(5)
    ]
    assert len(set(ids)) == 5
    received: list[int] = []
    while len(received) < 5:
        response = subscriber.pull(
            request={"subscription": sub_path, "max_messages": 10}, timeout=10
        )
        for msg in response.received_messages:
            assert msg.message.attributes["kind"] == "test"
            assert msg.message.ordering_key == "cal"
            received.append(json.loads(msg.message.data)["n"])
        if response.received_messages:
            subscriber.acknowledge(
                request={
                    "subscription": sub_path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
    assert received == [0, 1, 2, 3, 4]


def test_publish_to_missing_topic_raises_publish_error(emulators: Stack) -> None:
    publisher = Publisher(emulators.project)
    with pytest.raises(PublishError, match="does-not-exist"):
        publisher.publish("does-not-exist", {"x": 1}, ordering_key="k")
    # the ordering key was resumed: a later publish on it to a real topic still works
    publisher.client.create_topic(name=publisher.topic_path("now-exists"))
    assert publisher.publish("now-exists", {"x": 2}, ordering_key="k")


def test_a_failed_batch_on_one_ordering_key_raises_publish_error(emulators: Stack) -> None:
    """Every message of the key fails; the first failure pauses the key and resuming it
    once is enough: the others find it not paused (the library's RuntimeError), which
    must not replace the PublishError the caller handles."""
    publisher = Publisher(emulators.project)
    batch = [Message({"n": n}, ordering_key="same") for n in range(3)]
    with pytest.raises(PublishError, match="does-not-exist-either"):
        publisher.publish_many("does-not-exist-either", batch)
    publisher.client.create_topic(name=publisher.topic_path("exists-either"))
    assert len(publisher.publish_many("exists-either", batch)) == 3
