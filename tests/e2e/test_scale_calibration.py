"""The scale simulation, calibrated: one scripted scenario run on the real local stack
(Firestore and Pub/Sub emulators, the workspace emulator, every function over HTTP) and on
the simulation (`tests.scale.calibrate.run_script`), whose per-operation counts per phase
must agree within 10%.

The script, for `CALENDARS` calendars of `EVENTS` events each: every calendar watched
(a channel and the first full sync); `EDITS` rounds of one user edit per calendar, each
round synced before the next; one sweep of every calendar. Counted per phase from the
outside: Calendar calls by method (the workspace emulator's request log, the script's own
requests left out), Google's notifications and the webhook's publishes (the emulator's
push deliveries), the sweep's publishes (the run's stored shard reports), access tokens
minted (the emulator's token grants) and sync passes (each calendar's `syncs`).

The local stack runs each function as one process, so the simulation is run with one
instance per function (`one_instance`): the access tokens an instance holds are shared as
they are here. Onboarding's token mints and `sync` handshakes are shown, not compared: the
simulation onboards with its metering off (`calibrate.NOT_SIMULATED`). Locally they vary
from one to two mints per calendar: concurrent first requests to `watch_calendar` may
build two Calendar clients (`functools.cache` in `shared/wiring.py` is not atomic), one
held by the channel service and one by the sync service, each with its own token cache.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.driver import Env
from devstack.stack import http, wait_until
from shared.domain.models import User, calendar_key
from tests.chaos.runner import CHAOS_ENV
from tests.scale import calibrate
from tests.scale.__main__ import _settings

pytestmark = pytest.mark.e2e

CALENDARS = 200
EVENTS = 50
"""Events in each calendar's full-sync window. Any number up to 2,500 lists in one page on
both sides (the product asks for maxResults=2500, the emulator honours it, the simulation is
run with that page size): more would only lengthen the seeding (~1.6 ms an insert)."""
EDITS = 2
TOLERANCE = 0.10
MINE = "calibration"
"""The `quotaUser` the script's own Calendar requests carry, to leave them out of the counts."""
QUIET_S = 1.5
"""A phase is over when neither the request log nor the push deliveries grew for this long."""
THREADS = 8

_EVENTS_PATH = re.compile(r"^/calendar/v3/calendars/[^/]+/events(?:/([^/]+))?(?:/(\w+))?$")


def operation(method: str, path: str) -> str:
    """The Calendar API method a logged request called (`events.list`, `channels.stop`)."""
    if path == "/calendar/v3/channels/stop":
        return "channels.stop"
    match = _EVENTS_PATH.match(path)
    if match is None:
        return "calendars.get" if method == "GET" else f"{method} {path}"
    event, sub = match.groups()
    if event is None:
        return {"GET": "events.list", "POST": "events.insert"}.get(method, method)
    if sub is None and event in ("watch", "import") and method == "POST":
        return f"events.{event}"
    if sub is not None:
        return f"events.{sub}"
    verbs = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
    return f"events.{verbs.get(method, method)}"


class Script:
    """The real side of the script: seeds, acts, and counts per phase."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.url = env.stack.workspace_url
        self.emails = [f"calib{n:03d}@example.com" for n in range(CALENDARS)]
        self.keys = [calendar_key(e, e) for e in self.emails]
        self.tokens: dict[str, str] = {}
        self.edited: dict[str, list[str]] = {}
        self.counts: dict[str, dict[str, int]] = {}

    # -- setup (not counted) -------------------------------------------------------------

    def seed(self) -> None:
        """Every user known to the emulator and registered, with `EVENTS` events."""
        start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)

        def one(email: str) -> None:
            status, body = http("POST", f"{self.url}/_emulator/users", {"email": email})
            assert status < 300, body
            self.env.store.put_user(User(email=email, auth_mode="delegation"))
            token = self.env.emu("POST", f"users/{email}/token")["access_token"]
            self.tokens[email] = token
            ids = []
            with requests.Session() as session:
                for n in range(EVENTS):
                    begin = start + dt.timedelta(days=1 + n % 28, hours=n // 28)
                    event = {
                        "summary": f"event {n}",
                        "start": {"dateTime": begin.isoformat()},
                        "end": {"dateTime": (begin + dt.timedelta(minutes=30)).isoformat()},
                    }
                    made = self._calendar(session, email, "POST", "events", event)
                    ids.append(str(made["id"]))
            self.edited[email] = ids[:EDITS]

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(one, self.emails))

    def _calendar(
        self, session: requests.Session, email: str, method: str, path: str, body: Any
    ) -> dict[str, Any]:
        """One Calendar request as the user, marked as the script's own."""
        response = session.request(
            method,
            f"{self.url}/calendar/v3/calendars/primary/{path}",
            params={"quotaUser": MINE},
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[email]}"},
            timeout=30,
        )
        assert response.status_code < 300, response.text
        return dict(response.json())

    # -- the phases ------------------------------------------------------------------------

    def phase(self, name: str, act: Callable[[], Counter[str]]) -> None:
        """Clear the emulator's logs, act, wait until the stack is quiet, count."""
        self.env.emu("DELETE", "requests")
        self.env.emu("DELETE", "deliveries")
        before = self.syncs()
        extra = act()
        self.quiet()
        counts = self.logged() + extra
        after = self.syncs()
        counts[calibrate.SYNCS] = sum(after[k] - before[k] for k in self.keys)
        self.counts[name] = {k: v for k, v in sorted(counts.items()) if v}

    def onboard(self) -> Counter[str]:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(self.env.watch, self.emails))
        return Counter()

    def change(self) -> Counter[str]:
        for r in range(EDITS):
            before = self.syncs()

            def edit(email: str, r: int = r) -> None:
                event = self.edited[email][r]
                with requests.Session() as session:
                    body = {"summary": f"calibration edit {r}"}
                    self._calendar(session, email, "PATCH", f"events/{event}", body)

            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                list(pool.map(edit, self.emails))
            self.wait_synced(before, f"edit round {r} synced")
        return Counter()

    def sweep(self) -> Counter[str]:
        before = self.syncs()
        answer = self.env.sweep()  # every watched calendar; waits for every shard's report
        self.wait_synced(before, "every calendar swept")
        jobs = [r for r in self.env.store.reports_of_run(answer["run"]) if r.shard >= 0]
        return Counter(
            {
                calibrate.PUBLISH + "maintenance": len(jobs),
                calibrate.PUBLISH + "calendar-changes": sum(
                    r.counts.get("enqueued", 0) for r in jobs
                ),
            }
        )

    # -- reading the stack -----------------------------------------------------------------

    def syncs(self) -> dict[str, int]:
        found = {s.key: s.syncs for s in self.env.store.all_calendars()}
        return {k: found.get(k, 0) for k in self.keys}

    def wait_synced(self, before: dict[str, int], what: str) -> None:
        def done() -> bool:
            now = self.syncs()
            return all(now[k] > before[k] for k in self.keys)

        wait_until(done, timeout=90, what=what, interval=0.25)

    def quiet(self) -> None:
        last: tuple[int, int] = (-1, -1)
        since = time.monotonic()
        while time.monotonic() - since < QUIET_S:
            seen = (len(self.env.emu("GET", "requests")), len(self.env.emu("GET", "deliveries")))
            if seen != last:
                last, since = seen, time.monotonic()
            time.sleep(0.25)

    def logged(self) -> Counter[str]:
        """Calendar calls by method (the script's own left out), notifications and the
        webhook's publishes, from the emulator's logs since the phase began."""
        counts: Counter[str] = Counter()
        for r in self.env.emu("GET", "requests"):
            if r["api"] == "oauth" and r["path"] == "/token" and r["status"] == 200:
                counts[calibrate.MINTS] += 1  # an access token for a delegated user
            if r["api"] != "calendar" or r["query"].get("quotaUser") == MINE:
                continue
            op = operation(r["method"], r["path"])
            if op == "events.list":
                counts[
                    calibrate.TOKEN_LIST if "syncToken" in r["query"] else calibrate.FULL_LIST
                ] += 1
            else:
                counts[f"calendar {op}"] += 1
        notified: dict[tuple[str, int], bool] = {}
        handshakes = set()
        for d in self.env.emu("GET", "deliveries"):
            if d["state"] == "sync":
                handshakes.add(d["channel_id"])
            if d["state"] != "exists":
                continue
            key = (d["channel_id"], d["message_number"])
            ok = isinstance(d["status"], int) and 200 <= d["status"] < 300
            notified[key] = notified.get(key, False) or ok
        counts[calibrate.HANDSHAKES] += len(handshakes)
        counts[calibrate.NOTIFICATIONS] += len(notified)
        counts[calibrate.PUBLISH + "calendar-changes"] += sum(notified.values())
        return counts


def test_the_simulation_counts_what_the_local_stack_does(env: Env) -> None:
    began = time.monotonic()
    script = Script(env)
    script.seed()
    seeded = time.monotonic() - began
    script.phase("onboarding", script.onboard)
    script.phase("changes", script.change)
    script.phase("sweep", script.sweep)
    real = script.counts
    took = time.monotonic() - began

    settings = _settings([f"{k}={v}" for k, v in CHAOS_ENV.items()])
    sim = calibrate.run_script(CALENDARS, EVENTS, EDITS, settings=settings, one_instance=True)
    print(
        f"\n{CALENDARS} calendars x {EVENTS} events, {EDITS} edits each: real side "
        f"{took:.1f} s (seeding {seeded:.1f} s)\n{calibrate.table(real=real, sim=sim)}"
    )

    off = []
    for phase in calibrate.PHASES:
        r, s = real.get(phase, {}), sim.get(phase, {})
        for op in sorted(set(r) | set(s)):
            if (phase, op) in calibrate.NOT_SIMULATED:
                continue
            a, b = r.get(op, 0), s.get(op, 0)
            if abs(b - a) > TOLERANCE * a:
                off.append(f"{phase} {op}: real {a}, sim {b}")
    assert not off, "the simulation disagrees with the local stack:\n" + "\n".join(off)
    # the script did what it says: a full sync each, then one sync per edit and per sweep
    assert real["onboarding"][calibrate.FULL_LIST] == CALENDARS
    assert real["changes"][calibrate.SYNCS] == CALENDARS * EDITS
    assert real["sweep"][calibrate.SYNCS] == CALENDARS
