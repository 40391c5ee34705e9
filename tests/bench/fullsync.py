"""Full sync: the worker's full sync of a 10,000-event calendar (500 events ours) against
paging the same list with bare google-api-python-client.

Both sides run in one fresh child process (`python -m tests.bench.fullsync ...`) with
the functions' environment: one warm-up run each, then timed runs alternating between
the sides (median wall time), then one run each under tracemalloc (peak of Python
allocations during that run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devstack.stack import ROOT
from shared.domain.event import OWNED_PROPERTY
from shared.domain.models import CalendarState, Meeting, MeetingStatus, User, calendar_key
from shared.store.firestore import MEETINGS
from tests.bench.common import Connection, Ctx, Result

OWNER = "bulk@example.com"
EVENTS = 10_000
OURS = 500
INSERTERS = 4
TARGET_RATIO = 1.3
TOKEN_ENV = "BENCH_ACCESS_TOKEN"


def _seed(ctx: Ctx) -> tuple[str, float]:
    """A calendar of EVENTS events, OURS of them meetings we hold; (key, seconds taken)."""
    began = time.perf_counter()
    ctx.emu("POST", "users", {"email": OWNER})
    ctx.store.put_user(User(email=OWNER, auth_mode="delegation"))
    key = calendar_key(OWNER, OWNER)
    ctx.store.put_calendar(CalendarState(key=key, owner=OWNER, calendar_id=OWNER))
    token = ctx.access_token(OWNER)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0, second=0, minute=0)
    owned_every = EVENTS // OURS
    held: list[Meeting] = []
    lock = threading.Lock()
    errors: list[str] = []

    def insert(worker: int) -> None:
        conn = Connection(ctx.stack.workspace_url)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            for n in range(worker, EVENTS, INSERTERS):
                begins = start + dt.timedelta(days=1 + n // 8, hours=n % 8)
                body: dict[str, Any] = {
                    "summary": f"event {n}",
                    "description": "seeded by tests.bench.fullsync",
                    "start": {"dateTime": begins.isoformat()},
                    "end": {"dateTime": (begins + dt.timedelta(minutes=30)).isoformat()},
                }
                mid = ""
                if n % owned_every == 0:
                    mid = uuid.uuid4().hex
                    body["id"] = mid
                    body["extendedProperties"] = {"private": {OWNED_PROPERTY: mid}}
                status, raw = conn.request(
                    "POST",
                    "/calendar/v3/calendars/primary/events",
                    json.dumps(body).encode(),
                    headers,
                )
                if status != 200:
                    errors.append(f"insert {n}: {status} {raw[:200]!r}")
                    return
                if mid:
                    event = json.loads(raw)
                    meeting = Meeting(
                        id=mid,
                        organizer=OWNER,
                        mode="calendar",
                        status=MeetingStatus.READY,
                        calendar_key=key,
                        calendar_id=OWNER,
                        event_id=mid,
                        request_id=mid,
                        summary=str(event.get("summary", "")),
                        start=dict(event["start"]),
                        end=dict(event["end"]),
                        html_link=str(event.get("htmlLink", "")),
                        event_etag=str(event["etag"]),
                        event_updated=str(event.get("updated", "")),
                    )
                    with lock:
                        held.append(meeting)
        finally:
            conn.close()

    threads = [threading.Thread(target=insert, args=(w,)) for w in range(INSERTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    client = ctx.store.client
    for chunk in range(0, len(held), 500):
        batch = client.batch()
        for meeting in held[chunk : chunk + 500]:
            batch.set(client.collection(MEETINGS).document(meeting.id), meeting.to_dict())
        batch.commit()
    count = ctx.emu("GET", f"calendars/{quote(OWNER)}")["event_count"]
    if count != EVENTS or len(held) != OURS:
        raise RuntimeError(f"seeded {count} events, {len(held)} meetings")
    return key, time.perf_counter() - began


def _child(ctx: Ctx, key: str, runs: int) -> dict[str, dict[str, Any]]:
    env = {**os.environ, **ctx.stack.function_env(), TOKEN_ENV: ctx.access_token(OWNER)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        args = [sys.executable, "-m", "tests.bench.fullsync", "--key", key]
        args += ["--runs", str(runs), "--out", str(out)]
        done = subprocess.run(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"full sync child failed:\n{done.stderr.decode()[-3000:]}")
        return dict(json.loads(out.read_text()))


def run(ctx: Ctx, *, runs: int = 5) -> Result:
    key, seed_s = _seed(ctx)
    measured = _child(ctx, key, runs)
    product, floor = measured["product"], measured["floor"]
    figures = {
        "wall_s": product["wall_s"],
        "peak_mib": product["peak_mib"],
        "events_seen": product["events_seen"],
        "pages": product["pages"],
    }
    floor_figures = {
        "wall_s": floor["wall_s"],
        "peak_mib": floor["peak_mib"],
        "events_seen": floor["events_seen"],
        "pages": floor["pages"],
    }
    ratio = figures["wall_s"] / floor_figures["wall_s"]
    mem_ratio = figures["peak_mib"] / floor_figures["peak_mib"]
    return Result(
        name="fullsync",
        runs=runs,
        figures=figures,
        floor=floor_figures,
        ratio=ratio,
        ratio_of="wall time / floor wall time",
        target=f"<= {TARGET_RATIO} x floor wall time (memory reported, ratio {mem_ratio:.2f})",
        met=ratio <= TARGET_RATIO,
        notes=[
            f"Calendar of {EVENTS} events, {OURS} of them ours (private extended property "
            f"{OWNED_PROPERTY} = meeting id, records in Firestore with the event's etag, so the "
            f"steady-state policy is a no-op); seeded in {seed_s:.1f}s with {INSERTERS} raw-HTTP "
            "inserters and Firestore batch writes.",
            "Product: SyncService.sync (lease, the heads read and the first page while the "
            "lease write is in flight, the window listed as a partial response of the fields a "
            "sync reads, token saved with the release), timed from a cleared sync token (the "
            "clearing is not timed), wired by shared.wiring in a child process with the "
            "functions' env. Floor: events.list (maxResults=2500, same timeMin, whole events) "
            "paged with bare google-api-python-client and an access token, in the same child "
            "process, runs alternating with the product's.",
            f"Wall time: median of {runs} runs per side after one warm-up run each. Memory: "
            "tracemalloc peak (Python allocations) of one more run per side, traced separately "
            "so tracing does not slow the timed runs.",
            f"Product timed runs: {product['walls']}; floor: {floor['walls']}.",
        ],
    )


# -- the child process -------------------------------------------------------------------------


Side = tuple[Callable[[], None], Callable[[], tuple[int, int]]]
"""A benchmark side: what prepares a run (not timed), and the run."""


def _measure(sides: dict[str, Side], runs: int) -> dict[str, Any]:
    """Warm each side up, alternate timed runs (so drift hits both), then trace each once."""
    for prepare, once in sides.values():
        prepare()
        once()  # clients, discovery documents, credentials, connections
    walls: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, tuple[int, int]] = {}
    for n in range(runs):
        order = list(sides) if n % 2 == 0 else list(sides)[::-1]
        for name in order:
            prepare, once = sides[name]
            prepare()
            began = time.perf_counter()
            counts[name] = once()
            walls[name].append(time.perf_counter() - began)
    result: dict[str, Any] = {}
    for name, (prepare, once) in sides.items():
        prepare()
        tracemalloc.start()
        once()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result[name] = {
            "wall_s": statistics.median(walls[name]),
            "walls": [round(w, 3) for w in walls[name]],
            "peak_mib": peak / 2**20,
            "events_seen": counts[name][0],
            "pages": counts[name][1],
        }
    return result


def _product(key: str) -> Side:
    from shared import wiring

    service, store = wiring.sync_service(), wiring.store()

    def forget_token() -> None:
        store.update_calendar(key, {"sync_token": ""})

    def once() -> tuple[int, int]:
        report = service.sync(key, owner=f"bench-{uuid.uuid4().hex}")
        if report.outcome != "synced" or report.full_syncs != 1 or report.meetings_changed:
            raise RuntimeError(f"unexpected sync: {report}")
        return report.events_seen, report.pages

    return forget_token, once


def _floor(token: str) -> Side:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    from shared.settings import Settings

    settings = Settings.from_env()
    calendar = build(
        "calendar",
        "v3",
        credentials=Credentials(token),  # type: ignore[no-untyped-call]
        static_discovery=True,
        client_options={"api_endpoint": f"{settings.calendar_api_root}calendar/v3/"},
    )

    def once() -> tuple[int, int]:
        now = dt.datetime.now(dt.UTC)
        time_min = (now - dt.timedelta(days=settings.full_sync_days)).isoformat()
        seen = pages = 0
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {"calendarId": OWNER, "maxResults": 2500, "timeMin": time_min}
            if page_token:
                params["pageToken"] = page_token
            page = calendar.events().list(**params).execute()
            seen += len(page.get("items", []))
            pages += 1
            page_token = page.get("nextPageToken")
            if not page_token:
                return seen, pages

    return lambda: None, once


def child(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    sides = {"product": _product(args.key), "floor": _floor(os.environ[TOKEN_ENV])}
    args.out.write_text(json.dumps(_measure(sides, args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(child(sys.argv[1:]))
