"""Cold start: process start to first answered request, for each function under the
functions-framework CLI, against the no-op function started the same way.

Two figures per start of a function:

- *first answer*: spawn → first HTTP answer to GET /_ready (import + server start; the
  answer builds no Google/Firestore client). This is the figure the target is about.
- *real request*: spawn → answer to the first request that needs the function's
  clients and reaches Firestore (sent as soon as the first answer came), so the lazily
  imported client libraries and the clients themselves are paid for in it.

References: the no-op function (floor of both), and a bare function that on its first
request imports google-cloud-firestore, creates a client and reads one document (the
least any function that reads Firestore once can cost).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from dataclasses import dataclass, field

from devstack.stack import FUNCTIONS
from tests.bench.common import (
    BENCH_DIR,
    NOOP_SOURCE,
    NOOP_TARGET,
    Connection,
    Ctx,
    Result,
    answered,
    median,
    spawn_function,
)

STARTS = 5
TARGET_RATIO = 1.5
PROBE_INTERVAL = 0.005
FLOOR = "noop"
FIRESTORE_REF = "firestore_read"
NOBODY = "coldstart-nobody@example.com"
WATCHED = "alice@example.com"
"""A demo user of the stack; the webhook's probe is a notification of her calendar."""
_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//meetsync bench//EN\r\n"
    "BEGIN:VEVENT\r\nUID:coldstart@example.com\r\nDTSTART:20261210T150000Z\r\n"
    "DTEND:20261210T160000Z\r\nSUMMARY:cold start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
_FIRESTORE_SOURCE = '''"""Bench reference: the first request makes a Firestore client and reads."""

import flask
import functions_framework

_clients = []


@functions_framework.http
def firestore_read(request: flask.Request) -> flask.Response:
    if request.path == "/_ready":
        return flask.Response(status=204)
    if not _clients:
        from google.cloud import firestore

        _clients.append(firestore.Client())
    snap = _clients[0].collection("users").document("coldstart-nobody").get()
    return flask.Response(status=200 if snap.exists else 404)
'''


@dataclass(frozen=True)
class Probe:
    """The first real request sent to a function, and the status that proves it reached
    the store (every one of them reads Firestore before answering)."""

    method: str
    path: str
    expect: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    why: str = ""


def _json(body: object) -> tuple[bytes, dict[str, str]]:
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def _worker_push() -> bytes:
    """A Pub/Sub push of a change signal for a calendar nobody watches, old enough to skip
    the settle wait: the worker runs the lease write (NOT_WATCHED) and acknowledges."""
    signal = {
        "calendar_key": f"{NOBODY}:{NOBODY}",
        "channel_id": "coldstart",
        "message_number": 1,
        "state": "exists",
        "received_at": (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat(),
    }
    message = {
        "data": base64.b64encode(json.dumps(signal).encode()).decode(),
        "messageId": f"coldstart-{time.monotonic_ns()}",
        "publishTime": dt.datetime.now(dt.UTC).isoformat(),
    }
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def _meet_push() -> bytes:
    """A Pub/Sub push of a Workspace Events CloudEvent (conference started) for a space no
    meeting holds: meet_events queries Firestore for it and acknowledges."""
    record = "conferenceRecords/coldstart"
    message = {
        "data": base64.b64encode(
            json.dumps({"conferenceRecord": {"name": record}}).encode()
        ).decode(),
        "attributes": {
            "ce-type": "google.workspace.meet.conference.v2.started",
            "ce-source": "//meet.googleapis.com/spaces/coldstart",
            "ce-subject": f"//meet.googleapis.com/{record}",
            "ce-id": f"coldstart-{time.monotonic_ns()}",
            "ce-specversion": "1.0",
            "content-type": "application/json",
        },
        "messageId": f"coldstart-{time.monotonic_ns()}",
        "publishTime": dt.datetime.now(dt.UTC).isoformat(),
    }
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def _maintenance_push() -> bytes:
    """A Pub/Sub push of one sweep shard job: the maintenance function queries its shard's
    stale calendars (none here), stores the job's report and acknowledges."""
    now = dt.datetime.now(dt.UTC)
    job = {"kind": "sweep", "run": "coldstart", "shard": 0, "due": now.isoformat()}
    message = {
        "data": base64.b64encode(json.dumps(job).encode()).decode(),
        "messageId": f"coldstart-{time.monotonic_ns()}",
        "publishTime": now.isoformat(),
    }
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def probes(project: str, notification: dict[str, str]) -> dict[str, Probe]:
    """One real request per function (built per start: the worker's signal is timestamped).
    `notification`: the headers of a genuine notification of a watched calendar."""
    watch_body, json_headers = _json({"user": NOBODY, "calendarId": "primary"})
    renew_body, _ = _json({"action": "renew"})
    return {
        "calendar_webhook": Probe(
            "POST",
            "/",
            202,
            headers={**notification, "X-Goog-Message-Number": str(time.monotonic_ns())},
            why="genuine notification of a watched calendar: channel read, confirmed publish, 202",
        ),
        "sync_worker": Probe(
            "POST",
            f"/projects/{project}/topics/calendar-changes",
            200,
            body=_worker_push(),
            headers=json_headers,
            why="push of a signal for an unwatched calendar: lease write, ack",
        ),
        "meet_events": Probe(
            "POST",
            f"/projects/{project}/topics/workspace-events",
            200,
            body=_meet_push(),
            headers=json_headers,
            why="push of a Meet event for a space no meeting holds: space query, ack",
        ),
        "maintenance": Probe(
            "POST",
            f"/projects/{project}/topics/maintenance",
            200,
            body=_maintenance_push(),
            headers=json_headers,
            why="push of a sweep shard job with nothing stale: shard query, report, ack",
        ),
        "create_meeting": Probe(
            "GET", "/meetings/does-not-exist", 404, why="unknown meeting: meeting read, 404"
        ),
        "watch_calendar": Probe(
            "POST",
            "/calendars",
            403,
            body=watch_body,
            headers=json_headers,
            why="watch for an unknown user: user read, 403",
        ),
        "renew_channels": Probe(
            "POST",
            "/",
            200,
            body=renew_body,
            headers=json_headers,
            why="renew with no channel due: channel query, 200",
        ),
        "import_events": Probe(
            "POST",
            f"/?user={NOBODY}&calendarId=primary",
            403,
            body=_ICS.encode(),
            headers={"Content-Type": "text/calendar"},
            why="one-event import for an unknown user: .ics parsed, user read, 403",
        ),
        "users": Probe(
            "GET", f"/users/{NOBODY}", 404, why="an unknown user's status: user read, 404"
        ),
        "connect": Probe(
            "GET",
            "/connect",
            302,
            why="start of a Google sign-in: signed state, redirect (nothing stored)",
        ),
        FIRESTORE_REF: Probe("GET", "/read", 404, why="one document read"),
        FLOOR: Probe("GET", "/", 204, why="no-op"),
    }


def cold_start(
    ctx: Ctx, name: str, source: str, target: str, notification: dict[str, str]
) -> tuple[float, float]:
    """Seconds from spawning the CLI to (the first HTTP answer to GET /_ready, the answer
    to the first real request, sent right after)."""
    began = time.perf_counter()
    proc, url = spawn_function(
        f"cold-{name}",
        source=source,
        target=target,
        env=ctx.stack.function_env(),
        log_dir=ctx.stack.log_dir,
    )
    try:
        while not answered(f"{url}/_ready"):
            if not proc.alive():
                raise proc.fail("exited during start-up")
            if time.perf_counter() - began > 60:
                raise proc.fail("did not answer within 60 s")
            time.sleep(PROBE_INTERVAL)
        ready = time.perf_counter() - began
        probe = probes(ctx.stack.project, notification)[name]
        conn = Connection(url, timeout=60)
        try:
            headers = {**probe.headers, "Content-Length": str(len(probe.body))}
            status, body = conn.request(probe.method, probe.path, probe.body, headers)
        finally:
            conn.close()
        real = time.perf_counter() - began
        if status != probe.expect:
            raise proc.fail(
                f"real request {probe.method} {probe.path}: {status}, expected {probe.expect}: "
                f"{body[:300]!r}"
            )
        return ready, real
    finally:
        proc.stop()


def run(ctx: Ctx, *, starts: int = STARTS) -> Result:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    reference = BENCH_DIR / "coldstart_firestore_read.py"
    reference.write_text(_FIRESTORE_SOURCE)
    notification = ctx.channel_headers(str(ctx.watch(WATCHED)["channelId"]))
    notification.pop("Content-Length", None)
    targets = {name: ("main.py", name) for name in FUNCTIONS}
    targets[FLOOR] = (NOOP_SOURCE, NOOP_TARGET)
    targets[FIRESTORE_REF] = (str(reference), FIRESTORE_REF)
    ready: dict[str, list[float]] = {name: [] for name in targets}
    real: dict[str, list[float]] = {name: [] for name in targets}
    for n in range(starts):
        order = list(targets) if n % 2 == 0 else list(targets)[::-1]
        for name in order:
            source, target = targets[name]
            first, answer = cold_start(ctx, name, source, target, notification)
            ready[name].append(first)
            real[name].append(answer)
    floor_s = median(ready[FLOOR])
    store_s = median(real[FIRESTORE_REF])
    figures = {f"{name}_s": median(ready[name]) for name in FUNCTIONS}
    figures.update({f"{name}_real_s": median(real[name]) for name in FUNCTIONS})
    ratios = {name: median(ready[name]) / floor_s for name in FUNCTIONS}
    real_ratios = {name: median(real[name]) / floor_s for name in FUNCTIONS}
    store_ratios = {name: median(real[name]) / store_s for name in FUNCTIONS}
    worst = max(ratios, key=lambda name: ratios[name])
    worst_real = max(real_ratios, key=lambda name: real_ratios[name])
    checks = probes(ctx.stack.project, notification)
    return Result(
        name="coldstart",
        runs=starts,
        figures=figures,
        floor={
            "noop_s": floor_s,
            "noop_real_s": median(real[FLOOR]),
            "firestore_read_s": median(ready[FIRESTORE_REF]),
            "firestore_read_real_s": store_s,
        },
        ratio=ratios[worst],
        ratio_of=f"slowest function's first answer ({worst}) / floor",
        target=f"<= {TARGET_RATIO} x the floor (bare functions-framework function) for each",
        met=ratios[worst] <= TARGET_RATIO,
        notes=[
            f"Median of {starts} starts each, targets started one at a time in alternating "
            "order; NAME_s = spawning `functions-framework --source ... --target NAME` (same "
            f"env as the stack) to the first HTTP answer of GET /_ready, probed every "
            f"{PROBE_INTERVAL * 1000:.0f} ms. That answer builds no Google/Firestore client: "
            "it is import + server start, and the figure the target is judged on.",
            "first-answer ratios to the no-op: "
            + ", ".join(f"{name} {r:.2f}" for name, r in ratios.items()),
            "NAME_real_s = spawn to the answer of the first real request, sent right after the "
            "first answer; each reads Firestore, so client libraries and clients are in it: "
            + "; ".join(f"{name}: {checks[name].why}" for name in FUNCTIONS)
            + ".",
            f"real-request ratios to the no-op's first answer (slowest {worst_real}): "
            + ", ".join(f"{name} {r:.2f}" for name, r in real_ratios.items()),
            "real-request ratios to the bare Firestore-reading function's first read "
            f"(firestore_read_real_s, {store_s:.3f} s: import google-cloud-firestore, one "
            "client, one document read, nothing else): "
            + ", ".join(f"{name} {r:.2f}" for name, r in store_ratios.items()),
        ],
    )
