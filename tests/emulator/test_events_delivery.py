"""Workspace Events delivered to a topic of the real Pub/Sub emulator, faults included.

The session's local stack (``tests/conftest.py``) runs the Pub/Sub emulator; the
workspace emulator (in-process here) publishes to it over REST, as the one the local
stack runs does with ``PUBSUB_EMULATOR_HOST`` in its environment.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from devstack.stack import Stack
from tests.emulator.support import ALL_SCOPES, Harness, run, wait_for

pytestmark = pytest.mark.integration

A = "alice@example.com"
B = "bob@example.com"
STARTED = "google.workspace.meet.conference.v2.started"
ENDED = "google.workspace.meet.conference.v2.ended"
JOINED = "google.workspace.meet.participant.v2.joined"
LEFT = "google.workspace.meet.participant.v2.left"
RECORDING = "google.workspace.meet.recording.v2.fileGenerated"
TRANSCRIPT = "google.workspace.meet.transcript.v2.fileGenerated"
MEET_TYPES = [STARTED, ENDED, JOINED, LEFT, RECORDING, TRANSCRIPT]
LIFECYCLE = "google.workspace.events.subscription.v1."


class Topic:
    """A fresh topic with a pull subscription on the Pub/Sub emulator."""

    def __init__(self, host: str, project: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.base = f"http://{host}/v1/projects/{project}"
        self.name = f"projects/{project}/topics/workspace-events-{suffix}"
        self.pull_name = f"workspace-events-pull-{suffix}"
        self.http = requests.Session()
        put = self.http.put(f"http://{host}/v1/{self.name}", json={}, timeout=10)
        put.raise_for_status()
        sub = self.http.put(
            f"{self.base}/subscriptions/{self.pull_name}",
            json={"topic": self.name, "ackDeadlineSeconds": 60},
            timeout=10,
        )
        sub.raise_for_status()
        self.received: list[dict[str, Any]] = []

    def pull(self) -> list[dict[str, Any]]:
        """Every message so far (acked), in arrival order: attributes and decoded data."""
        resp = self.http.post(
            f"{self.base}/subscriptions/{self.pull_name}:pull",
            json={"maxMessages": 100, "returnImmediately": True},
            timeout=10,
        )
        resp.raise_for_status()
        got = resp.json().get("receivedMessages", [])
        if got:
            ack = self.http.post(
                f"{self.base}/subscriptions/{self.pull_name}:acknowledge",
                json={"ackIds": [m["ackId"] for m in got]},
                timeout=10,
            )
            ack.raise_for_status()
        for item in got:
            message = item["message"]
            self.received.append(
                {
                    "attributes": message.get("attributes", {}),
                    "data": json.loads(base64.b64decode(message["data"])),
                    "orderingKey": message.get("orderingKey"),
                }
            )
        return self.received

    def wait(self, count: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = wait_for(
            lambda: len(self.pull()) >= count and self.received,
            timeout=10,
            what=f"{count} Pub/Sub messages",
        )
        return messages

    def delete(self) -> None:
        self.http.delete(f"{self.base}/subscriptions/{self.pull_name}", timeout=10)
        self.http.delete(f"{self.base.rsplit('/v1/', 1)[0]}/v1/{self.name}", timeout=10)


@pytest.fixture
def topic(local_stack: Stack, h: Harness) -> Iterator[Topic]:
    h.configure(pubsub_emulator_host=local_stack.pubsub_host)
    made = Topic(local_stack.pubsub_host, local_stack.project)
    yield made
    made.delete()


def _space(h: Harness, owner: str = A) -> str:
    meet = h.meet(owner, h.credentials(owner, ALL_SCOPES))
    return str(run(meet.spaces().create(body={}))["name"])


def _subscribe(h: Harness, target: str, topic: Topic, **extra: Any) -> dict[str, Any]:
    body = {
        "targetResource": target,
        "eventTypes": MEET_TYPES,
        "notificationEndpoint": {"pubsubTopic": topic.name},
        **extra,
    }
    response: dict[str, Any] = run(h.events(A).subscriptions().create(body=body))["response"]
    return response


def _meeting(h: Harness, space: str) -> dict[str, Any]:
    """Two join, one leaves, the conference ends, a recording and a transcript."""
    h.space_call(space, "join", {"email": A})
    h.space_call(space, "join", {"email": B})
    h.space_call(space, "leave", {"email": B})
    h.space_call(space, "end")
    h.space_call(space, "artifacts", {"kind": "recording"})
    h.space_call(space, "artifacts", {"kind": "transcript"})
    view: dict[str, Any] = h.control("GET", f"/spaces/{space.split('/')[1]}")
    return view


def test_a_meeting_arrives_as_cloudevents(h: Harness, topic: Topic) -> None:
    space = _space(h)
    h.add_user(B)
    _subscribe(h, f"//meet.googleapis.com/{space}", topic)
    view = _meeting(h, space)
    messages = topic.wait(8)
    assert [m["attributes"]["ce-type"] for m in messages] == [
        STARTED, JOINED, JOINED, LEFT, LEFT, ENDED, RECORDING, TRANSCRIPT,
    ]  # fmt: skip
    record = view["conferences"][0]
    alice, bob = record["participants"]
    artifacts = {a["kind"]: a["name"] for a in record["artifacts"]}
    assert [m["data"] for m in messages] == [
        {"conferenceRecord": {"name": record["name"]}},
        {"participantSession": {"name": alice["sessions"][0]["name"]}},
        {"participantSession": {"name": bob["sessions"][0]["name"]}},
        {"participantSession": {"name": bob["sessions"][0]["name"]}},
        {"participantSession": {"name": alice["sessions"][0]["name"]}},
        {"conferenceRecord": {"name": record["name"]}},
        {"recording": {"name": artifacts["recording"]}},
        {"transcript": {"name": artifacts["transcript"]}},
    ]
    for message in messages:
        attributes = message["attributes"]
        resource_name = next(iter(message["data"].values()))["name"]
        assert set(attributes) == {
            "ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time",
            "content-type",
        }  # fmt: skip
        assert attributes["ce-specversion"] == "1.0"
        assert attributes["content-type"] == "application/json"
        assert attributes["ce-source"] == f"//meet.googleapis.com/{space}"
        assert attributes["ce-subject"] == f"//meet.googleapis.com/{resource_name}"
        assert datetime.fromisoformat(attributes["ce-time"]).tzinfo is not None
        assert message["orderingKey"] == attributes["ce-source"]
    assert len({m["attributes"]["ce-id"] for m in messages}) == 8
    deliveries = h.event_deliveries()
    assert [d["status"] for d in deliveries] == [200] * 8
    assert all(d["message_id"] for d in deliveries)


def test_lifecycle_events_on_the_clock(h: Harness, topic: Topic) -> None:
    space = _space(h)
    sub = _subscribe(h, f"//meet.googleapis.com/{space}", topic, ttl="172800s")
    name = f"//workspaceevents.googleapis.com/{sub['name']}"
    h.advance(36 * 3600 + 1)  # 12 h before the expiry
    [reminder] = topic.wait(1)
    assert reminder["attributes"]["ce-type"] == LIFECYCLE + "expirationReminder"
    assert reminder["attributes"]["ce-source"] == reminder["attributes"]["ce-subject"] == name
    assert reminder["data"]["subscription"]["name"] == sub["name"]
    assert reminder["data"]["subscription"]["expireTime"] == sub["expireTime"]
    h.advance(12 * 3600)  # past the 1 h reminder and the expiry: both, in order
    messages = topic.wait(3)
    assert [m["attributes"]["ce-type"] for m in messages] == [
        LIFECYCLE + "expirationReminder",
        LIFECYCLE + "expirationReminder",
        LIFECYCLE + "expired",
    ]
    assert messages[2]["data"]["subscription"]["state"] == "DELETED"
    h.space_call(space, "join", {"email": A})  # nobody listens any more
    h.control("POST", f"/users/{A}/revoke")
    assert len(topic.pull()) == 3


def test_suspension_is_announced_and_a_missing_topic_suspends(
    h: Harness, topic: Topic, local_stack: Stack
) -> None:
    space = _space(h)
    sub = _subscribe(h, f"//meet.googleapis.com/{space}", topic)
    h.control("POST", f"/users/{A}/revoke")
    [suspended] = topic.wait(1)
    assert suspended["attributes"]["ce-type"] == LIFECYCLE + "suspended"
    assert suspended["data"]["subscription"]["suspensionReason"] == "USER_AUTHORIZATION_FAILURE"
    run(h.events(A).subscriptions().reactivate(name=sub["name"], body={}))

    missing = f"projects/{local_stack.project}/topics/no-such-topic-{uuid.uuid4().hex[:8]}"
    other = _space(h)
    body = {
        "targetResource": f"//meet.googleapis.com/{other}",
        "eventTypes": [STARTED],
        "notificationEndpoint": {"pubsubTopic": missing},
    }
    lost = run(h.events(A).subscriptions().create(body=body))["response"]
    h.space_call(other, "join", {"email": A})

    def suspended_for_topic() -> bool:
        view = h.control("GET", f"/subscriptions/{lost['name'].split('/')[1]}")
        return bool(view.get("suspensionReason") == "ENDPOINT_NOT_FOUND")

    wait_for(suspended_for_topic, what="suspension for a missing topic")
    statuses = [d["status"] for d in h.event_deliveries() if d["topic"] == missing]
    assert statuses[0] == 404


def test_delivery_faults(h: Harness, topic: Topic) -> None:
    space = _space(h)
    _subscribe(h, f"//meet.googleapis.com/{space}", topic)
    h.control("POST", "/events_delivery", {"drop_next": 1})
    h.space_call(space, "join", {"email": A})  # started (dropped), joined
    [joined] = topic.wait(1)
    assert joined["attributes"]["ce-type"] == JOINED
    assert [d["status"] for d in h.event_deliveries()][:1] == ["dropped"]

    settings = h.control("POST", "/events_delivery", {"duplicate": True})
    assert settings == {
        "delay_ms": 0, "drop_next": 0, "drop_rate": 0.0, "duplicate": True, "reorder": False,
    }  # fmt: skip
    h.space_call(space, "leave", {"email": A})  # left, ended: each twice, same ce-id
    messages = topic.wait(5)[1:]
    ids = [m["attributes"]["ce-id"] for m in messages]
    assert len(ids) == 4 and len(set(ids)) == 2
    assert sorted(m["attributes"]["ce-type"] for m in messages) == [ENDED, ENDED, LEFT, LEFT]

    # each held 1 s plus a random 0-1 s: publish order is not event order
    h.control(
        "POST",
        "/events_delivery",
        {"duplicate": False, "reorder": True, "delay_ms": 1000, "seed": 7},
    )
    h.control("DELETE", "/event_deliveries")
    for i in range(8):
        h.space_call(space, "join", {"anonymous": f"Guest {i}"})
    messages = topic.wait(5 + 9)[5:]
    published = [d["ce_id"] for d in h.event_deliveries()]
    happened = [
        d["ce_id"] for d in sorted(h.event_deliveries(), key=lambda d: d["attributes"]["ce-time"])
    ]
    assert sorted(published) == sorted(happened) and published != happened
    assert {m["attributes"]["ce-id"] for m in messages} == set(published)

    h.control("POST", "/events_delivery", {"reorder": False, "delay_ms": 2000})
    h.space_call(space, "join", {"phone": "+1 555-***-**01"})
    assert len(topic.pull()) == 14  # held back 2 s
    topic.wait(15)
    h.control("POST", "/events_delivery", {"delay_ms": 0, "drop_rate": 1.0})
    h.space_call(space, "join", {"phone": "+1 555-***-**02"})
    assert h.event_deliveries()[-1]["status"] == "dropped"
