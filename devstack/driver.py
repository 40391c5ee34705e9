"""A driver for the local stack, shared by `make demo`, end-to-end tests and benchmarks:
act as a user in the workspace emulator, drive the functions over HTTP, read the outbound
event stream, and wait for conditions."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import google.api_core.exceptions
import requests
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from devstack.stack import Stack, wait_until
from shared.domain.models import CalendarState, Meeting, calendar_key
from shared.store.firestore import Store

_T = TypeVar("_T")
START = "2026-12-01T10:00:00+00:00"
END = "2026-12-01T11:00:00+00:00"


def wait_for(
    check: Callable[[], _T | None], *, timeout: float = 20.0, what: str = "condition"
) -> _T:
    """Poll until `check` returns something truthy; fail the test naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: _T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class Env:
    """One test's view of the stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        # the Google client libraries find the local emulators through these variables
        os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
        os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
        self.http = requests.Session()
        self.store = Store(firestore.Client(project=stack.project))
        self._subscriber: Any = None
        self._subscriptions: list[str] = []

    # -- workspace emulator ----------------------------------------------------------------

    def emu(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.stack.workspace_url}/_emulator/{path}", json=body, timeout=10
        )
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json() if response.content else None

    def refresh_token(self, email: str) -> str:
        return next(u["refresh_token"] for u in self.stack.users if u["email"] == email)

    def calendar_as(self, email: str) -> Any:
        """The real google-api-python-client, acting as `email` (what the user does in Calendar)."""
        url = self.stack.workspace_url
        creds = Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=self.refresh_token(email),
            token_uri=f"{url}/token",
            client_id="user-agent",
            client_secret="unused",
        )
        return build(
            "calendar",
            "v3",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": f"{url}/calendar/v3/"},
        )

    def calendar_requests(self, *, method: str | None = None, contains: str = "") -> list[Any]:
        log = self.emu("GET", "requests")
        return [
            r
            for r in log
            if r["api"] == "calendar"
            and (method is None or r["method"] == method)
            and contains in r["path"]
        ]

    # -- functions -------------------------------------------------------------------------

    def call(
        self, function: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> requests.Response:
        url = f"{self.stack.function_urls[function]}{path}"
        return self.http.request(method, url, json=body, timeout=60, **kw)

    def watch(self, email: str) -> dict[str, Any]:
        response = self.call(
            "watch_calendar", "POST", "/calendars", {"user": email, "calendarId": "primary"}
        )
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def create_meeting(self, email: str, summary: str = "Planning", **extra: Any) -> dict[str, Any]:
        body = {"organizer": email, "summary": summary, "start": START, "end": END, **extra}
        response = self.call(
            "create_meeting",
            "POST",
            "/meetings",
            body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code in (201, 202), response.text
        return dict(response.json())

    def sweep(self, *, stale_only: bool = False) -> dict[str, Any]:
        """A sweep run as the scheduler starts it (every watched calendar unless
        `stale_only`), waited for: the merged report of its shard jobs."""
        body = {"action": "sweep", "all": not stale_only}
        return self.maintenance_run(body)

    def audit(self, *, every: bool = False) -> dict[str, Any]:
        """An audit run as the scheduler starts it (the meetings due now, or `every` followed
        meeting however recently audited), waited for: the merged report of its shard jobs."""
        return self.maintenance_run({"action": "audit", "all": every})

    def renew(self) -> dict[str, Any]:
        """A renewal run as the scheduler starts it, waited for (merged shard reports)."""
        return self.maintenance_run({"action": "renew"})

    def maintenance_run(self, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """Dispatch through `renew_channels`, then wait until every shard job of the run has
        stored its final report; the ids behind each count, merged over the shards."""
        response = self.call("renew_channels", "POST", "/", body)
        assert response.status_code == 200, response.text
        answer = dict(response.json())
        run, shards = answer["run"], int(answer["shards"])
        finished: dict[str, Any] = {}

        def done() -> bool:
            reports = [r for r in self.store.reports_of_run(run) if r.shard >= 0]
            finished["reports"] = reports
            return {r.shard for r in reports if r.done} == set(range(shards))

        wait_until(done, timeout=timeout, what=f"maintenance run {run}", interval=0.1)
        merged: dict[str, list[str]] = {}
        for report in finished["reports"]:
            for name, ids in report.details.items():
                merged.setdefault(name, []).extend(ids)
        return {**answer, **merged}

    # -- product state ---------------------------------------------------------------------

    def meeting(self, meeting_id: str) -> Meeting:
        found = self.store.get_meeting(meeting_id)
        assert found is not None, meeting_id
        return found

    def age_channels(self, key: str, days: float = 1.0) -> None:
        """Record the calendar's channels as opened `days` ago. The product keeps real time
        while tests shorten channels through the emulator; a channel's replacement is due
        the renewal window before it expires, or half its life before if that is shorter,
        so a just-opened short-lived channel is due only once it has lived that long."""
        opened = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        for channel in self.store.channels_for(key):
            self.store.update_channel(channel.id, {"created_at": opened})

    def calendar_state_of(self, key: str) -> CalendarState:
        found = self.store.get_calendar(key)
        assert found is not None, key
        return found

    def calendar_state(self, email: str) -> CalendarState:
        found = self.store.get_calendar(calendar_key(email, email))
        assert found is not None
        return found

    def wait_meeting(self, meeting_id: str, check: Callable[[Meeting], bool], what: str) -> Meeting:
        return wait_for(
            lambda: m if check(m := self.meeting(meeting_id)) else None, what=what, timeout=30
        )

    # -- outbound events -------------------------------------------------------------------

    def subscriber(self) -> Any:
        """The Pub/Sub subscriber client, made on first use."""
        if self._subscriber is None:
            self._subscriber = pubsub_v1.SubscriberClient()
        return self._subscriber

    def subscribe(self, topic: str = "meeting-events") -> str:
        """A fresh pull subscription: it sees only what is published from now on."""
        name = self.subscriber().subscription_path(self.stack.project, f"t-{uuid.uuid4().hex[:12]}")
        self._subscriber.create_subscription(
            request={
                "name": name,
                "topic": f"projects/{self.stack.project}/topics/{topic}",
                "enable_message_ordering": True,
            }
        )
        self._subscriptions.append(name)
        return str(name)

    def pull_raw(self, subscription: str, *, max_messages: int = 100) -> list[Any]:
        """Pull and acknowledge what is there now (received messages, undecoded)."""
        # return at once when nothing is there (the emulator honours the flag; a blocking
        # pull would hold every polling loop for its whole timeout)
        request = {
            "subscription": subscription,
            "max_messages": max_messages,
            "return_immediately": True,
        }
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The return_immediately flag", DeprecationWarning)
            response = self.subscriber().pull(request=request, timeout=5)
        received = list(response.received_messages)
        if received:
            self._subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [m.ack_id for m in received]}
            )
        return received

    def pull(self, subscription: str, *, max_messages: int = 100) -> list[dict[str, Any]]:
        """Pull, acknowledge and decode JSON messages."""
        return [
            json.loads(m.message.data)
            for m in self.pull_raw(subscription, max_messages=max_messages)
        ]

    def events_until(
        self, subscription: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Collect events until `done(all so far)`; then a short drain to catch duplicates."""
        seen: list[dict[str, Any]] = []

        def check() -> bool:
            seen.extend(self.pull(subscription))
            return done(seen)

        wait_for(check, timeout=timeout, what="outbound events")
        return seen

    def close(self) -> None:
        if self._subscriber is not None:
            for name in self._subscriptions:
                # a Pub/Sub emulator restart (fault suite) may have taken it already
                with contextlib.suppress(google.api_core.exceptions.NotFound):
                    self._subscriber.delete_subscription(request={"subscription": name})
            self._subscriber.close()


def types_for(events: list[dict[str, Any]], meeting_id: str) -> list[str]:
    return [e["type"] for e in events if e["subject"] == f"meetings/{meeting_id}"]
