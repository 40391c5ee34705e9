"""Running `meetsync` against the session's local stack, in-process (`main(argv)`) or as the
installed console script, and playing Pub/Sub's dead-letter path."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import subprocess
import sys
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from devstack.driver import Env
from devstack.stack import DEAD_LETTER_SUBSCRIPTION, http
from meetsync_cli.app import main
from shared.store.pubsub import Publisher

METSYNC = Path(sys.executable).with_name("meetsync")
"""The console script `make setup` installs."""
MAX_DELIVERY_ATTEMPTS = 5
"""The stack's worker subscription's dead-letter policy (devstack/stack.py)."""


@dataclass
class Run:
    code: int
    out: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """`meetsync --stack FILE ...` for one test."""

    def __init__(self, env: Env, tmp_path: Path) -> None:
        self.env = env
        self.stack_file = env.stack.write_description(tmp_path / "stack.json")

    def __call__(self, *argv: str, terminal: bool = False) -> Run:
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=160)
        code = main(["--stack", str(self.stack_file), *argv], console=console)
        return Run(code, buffer.getvalue())

    def json(self, *argv: str, code: int = 0) -> Any:
        run = self("--json", *argv)
        assert run.code == code, run.out
        return run.json()

    def script(self, *argv: str) -> subprocess.Popen[str]:
        """The installed `meetsync` script, started (stdout piped)."""
        return subprocess.Popen(
            [str(METSYNC), "--stack", str(self.stack_file), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def signal(calendar_key: str, channel_id: str = "c1", number: int = 1) -> dict[str, Any]:
    """A change signal as the webhook publishes it."""
    return {
        "calendar_key": calendar_key,
        "channel_id": channel_id,
        "message_number": number,
        "state": "exists",
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def publish_dead_letter(env: Env, data: bytes, ordering_key: str, **attributes: str) -> str:
    """Put a message on the dead-letter topic as Pub/Sub forwards one."""
    client = Publisher(env.stack.project).client
    topic = client.topic_path(env.stack.project, "calendar-changes-dead-letter")
    return str(client.publish(topic, data, ordering_key=ordering_key, **attributes).result(10))


def dead_letter_through_the_worker(env: Env, data: dict[str, Any]) -> list[int]:
    """A change signal through the dead-letter path, as Pub/Sub takes it (the emulator's own
    dead-lettering crashes its delivery loop: a NullPointerException in its
    MessageBacklog.pull, emulator 0.8.20). The signal is published, delivered to the worker
    in Pub/Sub's push format up to the subscription's maximum attempts, and, when every
    attempt failed, forwarded to the dead-letter topic with Pub/Sub's attributes, then
    acknowledged on its source. The worker's answers, one per attempt."""
    project, host = env.stack.project, env.stack.pubsub_host
    name = f"t-source-{uuid.uuid4().hex[:8]}"
    base = f"http://{host}/v1/projects/{project}"
    assert http("PUT", f"{base}/topics/{name}", {})[0] == 200
    body = {"topic": f"projects/{project}/topics/{name}", "enableMessageOrdering": True}
    assert http("PUT", f"{base}/subscriptions/{name}", body)[0] == 200
    key = str(data["calendar_key"])
    Publisher(project).publish(name, data, ordering_key=key, attributes={"calendar": key})
    subscription = f"projects/{project}/subscriptions/{name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pulled = env.subscriber().pull(
            request={"subscription": subscription, "max_messages": 1, "return_immediately": True},
            timeout=10,
        )
    (received,) = pulled.received_messages
    message = received.message
    url = f"{env.stack.function_urls['sync_worker']}/projects/{project}/topics/calendar-changes"
    answers = []
    for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
        push = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "messageId": message.message_id,
                "publishTime": message.publish_time.isoformat(),
                "attributes": dict(message.attributes),
                "orderingKey": message.ordering_key,
            },
            "subscription": f"projects/{project}/subscriptions/sync-worker",
            "deliveryAttempt": attempt,
        }
        answers.append(requests.post(url, json=push, timeout=60).status_code)
    if all(status >= 500 for status in answers):
        publish_dead_letter(
            env,
            bytes(message.data),
            message.ordering_key,
            **dict(message.attributes),
            CloudPubSubDeadLetterSourceDeliveryCount=str(MAX_DELIVERY_ATTEMPTS),
            CloudPubSubDeadLetterSourceSubscription="sync-worker",
            CloudPubSubDeadLetterSourceSubscriptionProject=project,
            CloudPubSubDeadLetterSourceTopicPublishTime=message.publish_time.isoformat(),
        )
    env.subscriber().acknowledge(
        request={"subscription": subscription, "ack_ids": [received.ack_id]}
    )
    http("DELETE", f"{base}/subscriptions/{name}")
    http("DELETE", f"{base}/topics/{name}")
    return answers


def dead_letters(env: Env, *, take: bool) -> list[Any]:
    """What the dead-letter subscription holds now: taken (acknowledged), or left there."""
    subscription = f"projects/{env.stack.project}/subscriptions/{DEAD_LETTER_SUBSCRIPTION}"
    found: dict[str, Any] = {}
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            response = env.subscriber().pull(
                request={
                    "subscription": subscription,
                    "max_messages": 100,
                    "return_immediately": True,
                },
                timeout=10,
            )
        fresh = [m for m in response.received_messages if m.message.message_id not in found]
        if not fresh:
            break
        found.update((m.message.message_id, m) for m in fresh)
    messages: Sequence[Any] = list(found.values())
    if messages:
        ack_ids = [m.ack_id for m in messages]
        if take:
            env.subscriber().acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
        else:
            env.subscriber().modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": ack_ids,
                    "ack_deadline_seconds": 0,
                }
            )
    return [m.message for m in messages]
