"""Every HTTP entry point in-process, through functions-framework's own app, with
`shared.wiring` handing out services built on the in-memory adapters.

Each answer is checked against `functions/openapi.json` where the spec covers the
route, and every error body is `{"error": {"code", "kind", "message", "field"}}`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from shared import wiring
from shared.domain.errors import RateLimitedError
from shared.domain.models import ChangeSignal
from shared.domain.shards import SHARDS
from shared.memory import MemoryDirectory, MemoryWorkspaceEvents
from shared.services.live import MeetEvents, Subscriptions
from shared.services.runs import latest_run
from tests.e2e import contract
from tests.unit.support import ALICE, KEY, System, system

MAIN = Path(__file__).resolve().parents[2] / "main.py"
GOOD: dict[str, Any] = {
    "organizer": ALICE,
    "summary": "Planning",
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
}
ERROR_KEYS = {"code", "kind", "message", "field"}


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> System:
    """The in-memory system, served by every entry point."""
    s = system()
    provided: dict[str, object] = {
        "settings": s.settings,
        "meetings": s.meetings,
        "signal_service": s.signals,
        "channel_service": s.channels,
        "sweeper": s.sweeper,
        "worker": s.worker,
        "maintenance": s.maintenance,
        "meet_events": MeetEvents(
            store=s.store,
            meet=s.meet,
            directory=MemoryDirectory(s.meet),
            subscriptions=Subscriptions(
                events=MemoryWorkspaceEvents(s.clock), store=s.store, topic="t", now=s.clock
            ),
            sink=s.sink,
            source="//test",
            now=s.clock,
        ),
    }
    for name, value in provided.items():
        monkeypatch.setattr(wiring, name, _returning(value))
    return s


def _returning(value: object) -> Callable[[], object]:
    return lambda: value


def client(target: str) -> Any:
    app = functions_framework.create_app(target, str(MAIN))  # type: ignore[no-untyped-call]
    return app.test_client()


def error(response: Any, status: int, kind: str, field: str | None) -> dict[str, Any]:
    """Assert the JSON error shape; returns the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert ERROR_KEYS <= set(err) <= ERROR_KEYS | {"reason"}
    assert (err["code"], err["kind"], err["field"]) == (status, kind, field)
    assert isinstance(err["message"], str) and err["message"]
    return err


# -- calendar_webhook -------------------------------------------------------------------------


def notification(w: System, **changes: str) -> dict[str, str]:
    """The headers of a genuine push for the channel `watch` opened."""
    channel = w.store.channels[next(iter(w.store.channels))]
    headers = {
        "X-Goog-Channel-ID": channel.id,
        "X-Goog-Channel-Token": w.calendar.tokens[channel.id],
        "X-Goog-Message-Number": "3",
        "X-Goog-Resource-ID": channel.resource_id,
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
    }
    headers.update(changes)
    return headers


@pytest.fixture
def webhook(w: System) -> Any:
    w.channels.watch(ALICE, "primary")
    return client("calendar_webhook")


def changes_published(w: System) -> list[str]:
    return [key for _, key, _ in w.publisher.messages.get(w.settings.changes_topic, [])]


def test_webhook_enqueues_a_genuine_notification(w: System, webhook: Any) -> None:
    response = webhook.post("/", headers=notification(w))
    assert response.status_code == 202
    assert response.get_json() == {"status": "enqueued", "messageId": "1"}
    assert changes_published(w) == [KEY]


def test_webhook_acknowledges_the_sync_handshake(w: System, webhook: Any) -> None:
    response = webhook.post("/", headers=notification(w, **{"X-Goog-Resource-State": "sync"}))
    assert response.status_code == 200
    assert response.get_json() == {"status": "sync acknowledged"}
    assert changes_published(w) == []


@pytest.mark.parametrize(
    ("changes", "status", "kind", "field"),
    [
        ({"X-Goog-Channel-ID": "unknown"}, 404, "not_found", "X-Goog-Channel-ID"),
        ({"X-Goog-Channel-Token": "forged"}, 403, "forbidden", "X-Goog-Channel-Token"),
        ({"X-Goog-Resource-ID": "other"}, 403, "forbidden", "X-Goog-Resource-ID"),
        ({"X-Goog-Message-Number": "x"}, 400, "invalid", "X-Goog-Message-Number"),
        ({"X-Goog-Resource-State": "gone"}, 400, "invalid", "X-Goog-Resource-State"),
    ],
)
def test_webhook_refuses_with_the_kind_and_header(
    w: System, webhook: Any, changes: dict[str, str], status: int, kind: str, field: str
) -> None:
    error(webhook.post("/", headers=notification(w, **changes)), status, kind, field)
    assert changes_published(w) == []


def test_webhook_without_headers_names_the_first_missing(webhook: Any) -> None:
    error(webhook.post("/"), 400, "invalid", "X-Goog-Message-Number")


def test_webhook_answers_503_when_the_signal_cannot_be_published(w: System, webhook: Any) -> None:
    w.publisher.fail_next = 1
    response = webhook.post("/", headers=notification(w))
    error(response, 503, "unavailable", None)
    assert response.headers["Retry-After"] == "5"
    assert changes_published(w) == []


def test_webhook_refuses_get(w: System, webhook: Any) -> None:
    error(webhook.get("/", headers=notification(w)), 405, "method_not_allowed", "method")


# -- create_meeting ---------------------------------------------------------------------------


@pytest.fixture
def meetings(w: System) -> Any:
    return client("create_meeting")


def post_meeting(api: Any, body: Any, key: str | None = "k1", **headers: str) -> Any:
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post("/meetings", data=json.dumps(body), content_type="application/json",
                    headers=headers)  # fmt: skip


def test_create_meeting_answers_201_with_a_ready_meeting(w: System, meetings: Any) -> None:
    response = post_meeting(meetings, GOOD)
    assert response.status_code == 201
    body = response.get_json()
    contract.check("/meetings", "POST", 201, body)
    assert body["status"] == "ready" and body["meetingUri"]
    assert response.headers["Location"] == f"/meetings/{body['id']}"
    assert w.meeting(body["id"]).status == "ready"
    assert w.sink.types(body["id"]) == ["meeting.ready"]
    again = post_meeting(meetings, GOOD)  # a retry: the same meeting, nothing new
    assert again.status_code == 201 and again.get_json()["id"] == body["id"]
    assert len(w.store.meetings) == 1 and len(w.sink.events) == 1
    got = meetings.get(f"/meetings/{body['id']}")
    assert got.status_code == 200 and got.get_json() == body
    contract.check("/meetings/{id}", "GET", 200, got.get_json())


def test_create_meeting_answers_202_while_the_conference_is_pending(
    w: System, meetings: Any
) -> None:
    w.calendar.conference_ready = False
    response = post_meeting(meetings, GOOD)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    contract.check("/meetings", "POST", 202, response.get_json())


def test_create_meeting_refuses_a_key_reused_with_another_body(meetings: Any) -> None:
    assert post_meeting(meetings, GOOD).status_code == 201
    response = post_meeting(meetings, {**GOOD, "summary": "Other"})
    error(response, 422, "unprocessable", "Idempotency-Key")
    contract.check("/meetings", "POST", 422, response.get_json())


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        ({**GOOD, "end": "2026-12-01T09:00:00Z"}, "k1", "end"),
        ({**GOOD, "colour": "red"}, "k1", "colour"),
        ({k: v for k, v in GOOD.items() if k != "organizer"}, "k1", "organizer"),
        ({**GOOD, "attendees": ["x@"]}, "k1", "attendees[0]"),
        (GOOD, "has space", "Idempotency-Key"),
        ([1, 2], "k1", "body"),
    ],
)
def test_create_meeting_refuses_an_invalid_request_naming_the_field(
    w: System, meetings: Any, body: Any, key: str, field: str
) -> None:
    response = post_meeting(meetings, body, key)
    error(response, 400, "invalid", field)
    contract.check("/meetings", "POST", 400, response.get_json())
    assert not w.calendar.calls and not w.store.meetings  # refused before any call


def test_create_meeting_refuses_unknown_and_revoked_organizers(w: System, meetings: Any) -> None:
    error(post_meeting(meetings, {**GOOD, "organizer": "eve@example.com"}), 403, "forbidden",
          "organizer")  # fmt: skip
    w.store.set_user_status(ALICE, "auth_revoked")
    error(post_meeting(meetings, GOOD), 409, "conflict", "organizer")


def test_create_meeting_tells_a_rate_limit_to_come_back_later(w: System, meetings: Any) -> None:
    w.calendar.fail["events.insert"] = RateLimitedError("quota", status=429)
    response = post_meeting(meetings, GOOD)
    error(response, 503, "rate_limited", None)
    assert response.headers["Retry-After"] == "30"
    assert post_meeting(meetings, GOOD).status_code == 201  # the retry with the same key


def test_create_meeting_unknown_meeting_path_and_methods(meetings: Any) -> None:
    response = meetings.get("/meetings/nope")
    error(response, 404, "not_found", "id")
    contract.check("/meetings/{id}", "GET", 404, response.get_json())
    error(meetings.get("/elsewhere"), 404, "not_found", "path")
    for response, path, method in (
        (meetings.put("/meetings", json=GOOD), "/meetings", "POST"),
        (meetings.post("/meetings/abc"), "/meetings/{id}", "GET"),
    ):
        error(response, 405, "method_not_allowed", "method")
        contract.check(path, method, 405, response.get_json())


def test_create_meeting_refuses_other_media_and_huge_bodies(w: System, meetings: Any) -> None:
    plain = meetings.post("/meetings", data=json.dumps(GOOD), content_type="text/plain")
    error(plain, 415, "unsupported_media", "Content-Type")
    huge = post_meeting(meetings, {**GOOD, "description": "x" * (w.settings.max_body_bytes + 1)})
    error(huge, 413, "too_large", "body")


# -- watch_calendar ---------------------------------------------------------------------------


@pytest.fixture
def watcher(w: System) -> Any:
    return client("watch_calendar")


def test_watch_calendar_starts_reuses_and_stops(w: System, watcher: Any) -> None:
    first = watcher.post("/calendars", json={"user": ALICE, "calendarId": "primary"})
    assert first.status_code == 201
    body = first.get_json()
    assert body["created"] is True and body["calendarKey"] == KEY
    assert [c["id"] for c in w.calendar.live_channels(KEY)] == [body["channelId"]]
    again = watcher.post("/calendars", json={"user": ALICE})
    assert again.status_code == 200 and again.get_json()["channelId"] == body["channelId"]
    stopped = watcher.delete("/calendars", json={"user": ALICE})
    assert stopped.status_code == 200
    assert stopped.get_json() == {"calendarId": "primary", "stoppedChannels": [body["channelId"]]}
    assert w.calendar.live_channels(KEY) == [] and w.state().status == "stopped"


def test_watch_calendar_refusals(w: System, watcher: Any) -> None:
    error(watcher.post("/calendars", json={"user": "eve@example.com"}), 403, "forbidden", "user")
    error(watcher.post("/calendars", json={"user": "not-an-email"}), 400, "invalid", "user")
    error(watcher.post("/calendars", json={"user": ALICE, "calendarId": "a b"}), 400, "invalid",
          "calendarId")  # fmt: skip
    error(watcher.delete("/calendars", json={"user": ALICE}), 404, "not_found", "calendarId")
    error(watcher.get("/calendars"), 405, "method_not_allowed", "method")
    error(watcher.post("/elsewhere", json={"user": ALICE}), 404, "not_found", "path")
    w.store.set_user_status(ALICE, "auth_revoked")
    error(watcher.post("/calendars", json={"user": ALICE}), 409, "conflict", "user")
    assert not w.calendar.calls


def test_watch_calendar_without_a_webhook_url_is_a_server_error(
    monkeypatch: pytest.MonkeyPatch, w: System, watcher: Any
) -> None:
    bare = system(env={"WEBHOOK_URL": ""})
    monkeypatch.setattr(wiring, "channel_service", _returning(bare.channels))
    error(watcher.post("/calendars", json={"user": ALICE}), 500, "misconfigured", None)


# -- renew_channels ---------------------------------------------------------------------------


@pytest.fixture
def scheduler(w: System) -> Any:
    return client("renew_channels")


def deliver_jobs(w: System) -> list[dict[str, Any]]:
    """Push every published maintenance job to the `maintenance` function, as Pub/Sub does
    (continuations included); the jobs delivered."""
    queue = w.publisher.messages.setdefault(w.settings.maintenance_topic, [])
    delivered: list[dict[str, Any]] = []
    while queue:
        data, _key, _attrs = queue.pop(0)
        payload = base64.b64encode(json.dumps(data).encode()).decode()
        response = client("maintenance").post(
            "/",
            json={"message": {"data": payload, "messageId": "m"}, "subscription": "s"},
            headers={
                "ce-id": f"m-{len(delivered)}",
                "ce-source": "//pubsub.googleapis.com/projects/unit/topics/maintenance",
                "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                "ce-specversion": "1.0",
            },
        )
        assert response.status_code == 200, response.data
        delivered.append(data)
    return delivered


def test_renew_channels_dispatches_a_run_whose_shard_jobs_renew(w: System, scheduler: Any) -> None:
    old = w.channels.watch(ALICE, "primary")["channelId"]
    w.clock.advance(6 * 86_400)
    response = scheduler.post("/", json={"action": "renew"})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["kind"] == "renew" and answer["shards"] == SHARDS
    assert len(w.calendar.live_channels(KEY)) == 1  # nothing done before the jobs run
    jobs = deliver_jobs(w)
    assert sorted(j["shard"] for j in jobs) == list(range(SHARDS))
    assert {j["run"] for j in jobs} == {answer["run"]}
    assert len(w.calendar.live_channels(KEY)) == 2
    merged = latest_run(w.store, "renew")
    assert merged is not None and merged.done and merged.details["renewed"] == [old]
    assert scheduler.post("/", json={}).get_json()["kind"] == "renew"  # the default


def test_renew_channels_sweeps_stale_calendars_or_all(w: System, scheduler: Any) -> None:
    w.channels.watch(ALICE, "primary")  # its first sync just ran: not stale
    answer = scheduler.post("/", json={"action": "sweep"}).get_json()
    assert answer["meetings"] == {"requeued": 0}
    deliver_jobs(w)
    assert changes_published(w) == []
    scheduler.post("/", json={"action": "sweep", "all": True})
    deliver_jobs(w)
    assert changes_published(w) == [KEY]


def test_maintenance_refuses_what_is_not_a_job(w: System) -> None:
    for data in ("not base64!", base64.b64encode(b"[1]").decode()):
        response = client("maintenance").post(
            "/",
            json={"message": {"data": data, "messageId": "m"}, "subscription": "s"},
            headers={
                "ce-id": "m-bad",
                "ce-source": "//pubsub.googleapis.com/projects/unit/topics/maintenance",
                "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                "ce-specversion": "1.0",
            },
        )
        assert response.status_code == 500  # nacked: redelivered, then dead-lettered


def test_renew_channels_refusals(scheduler: Any) -> None:
    error(scheduler.post("/", json={"action": "explode"}), 400, "invalid", "action")
    error(scheduler.post("/", json={"action": "sweep", "all": "yes"}), 400, "invalid", "all")
    error(scheduler.post("/", data="{", content_type="application/json"), 400, "invalid", "body")
    error(scheduler.get("/"), 405, "method_not_allowed", "method")


# -- sync_worker (a CloudEvent function, for completeness) -------------------------------------


def test_sync_worker_syncs_the_calendar_of_a_pushed_signal(w: System) -> None:
    w.channels.watch(ALICE, "primary")
    meeting = w.create()
    w.calendar.edit(ALICE, "primary", meeting.event_id, summary="Renamed")
    signal = ChangeSignal(KEY, "ch", 1, "exists", w.clock())
    data = base64.b64encode(json.dumps(signal.to_dict()).encode()).decode()
    response = client("sync_worker").post(
        "/",
        json={"message": {"data": data, "messageId": "m-1"}, "subscription": "s"},
        headers={
            "ce-id": "m-1",
            "ce-source": "//pubsub.googleapis.com/projects/unit/topics/calendar-changes",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-specversion": "1.0",
        },
    )
    assert response.status_code == 200
    assert w.meeting(meeting.id).summary == "Renamed"
    assert w.sink.types(meeting.id) == ["meeting.ready", "meeting.updated"]


# -- meet_events (a CloudEvent function) ----------------------------------------------------------


def _workspace_push(attributes: dict[str, str], data: bytes) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes,
            "messageId": "7",
        },
        "subscription": "projects/unit/subscriptions/workspace-events-meet-events",
    }


def _post_event(body: dict[str, Any]) -> Any:
    headers = {
        "ce-id": "7",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/unit/topics/workspace-events",
    }
    return client("meet_events").post("/", json=body, headers=headers)


def test_meet_events_acknowledges_an_unknown_space_and_fails_poison(w: System) -> None:
    attributes = {
        "ce-type": "google.workspace.meet.conference.v2.started",
        "ce-source": "//meet.googleapis.com/spaces/unknown",
        "ce-id": "e1",
    }
    data = json.dumps({"conferenceRecord": {"name": "conferenceRecords/r1"}}).encode()
    assert _post_event(_workspace_push(attributes, data)).status_code == 200
    assert _post_event(_workspace_push({"ce-type": "x"}, b"{")).status_code == 500
