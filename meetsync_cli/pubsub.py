"""Pull subscriptions as the CLI reads them: pull what is there now, acknowledge, or give
back (a deadline of 0: visible again at once), and a subscription to follow a topic."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from meetsync_cli.target import TAIL_SUBSCRIPTION, Target


@dataclass
class Received:
    message_id: str
    ack_id: str
    data: bytes
    ordering_key: str
    attributes: dict[str, str]
    published_at: dt.datetime


def pull(target: Target, subscription: str, max_messages: int) -> list[Received]:
    """What the subscription holds now (at most `max_messages`), unacknowledged."""
    request = {
        "subscription": target.subscription(subscription),
        "max_messages": max_messages,
        # answer at once when empty (the emulator honours it; Pub/Sub discourages it for
        # throughput, which a CLI does not need)
        "return_immediately": True,
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The return_immediately flag", DeprecationWarning)
        response = target.subscriber.pull(request=request, timeout=30)
    return [
        Received(
            message_id=str(r.message.message_id),
            ack_id=str(r.ack_id),
            data=bytes(r.message.data),
            ordering_key=str(r.message.ordering_key),
            attributes=dict(r.message.attributes),
            published_at=r.message.publish_time,
        )
        for r in response.received_messages
    ]


def ack(target: Target, subscription: str, messages: Sequence[Received]) -> None:
    if messages:
        request = {
            "subscription": target.subscription(subscription),
            "ack_ids": [m.ack_id for m in messages],
        }
        target.subscriber.acknowledge(request=request)


def give_back(target: Target, subscription: str, messages: Sequence[Received]) -> None:
    """Unacknowledge: the messages are delivered again at once, to the next reader."""
    for start in range(0, len(messages), 500):
        target.subscriber.modify_ack_deadline(
            request={
                "subscription": target.subscription(subscription),
                "ack_ids": [m.ack_id for m in messages[start : start + 500]],
                "ack_deadline_seconds": 0,
            }
        )


@contextlib.contextmanager
def following(target: Target, topic: str, now: dt.datetime) -> Iterator[str]:
    """A subscription that gets `topic`'s messages from now on. In the cloud, the operators'
    subscription Terraform declares, moved to now (seek); on the local stack (the emulator
    cannot seek an ordered subscription) one of its own, deleted afterwards."""
    subscriber = target.subscriber
    if not target.local:
        path = target.subscription(TAIL_SUBSCRIPTION)
        subscriber.seek(request={"subscription": path, "time": now})
        yield TAIL_SUBSCRIPTION
        return
    name = f"{TAIL_SUBSCRIPTION}-{uuid.uuid4().hex[:8]}"
    subscriber.create_subscription(
        request={
            "name": target.subscription(name),
            "topic": target.topic(topic),
            "enable_message_ordering": True,
        }
    )
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            subscriber.delete_subscription(request={"subscription": target.subscription(name)})
