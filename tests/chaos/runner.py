"""One seed of the fault suite: a random schedule of user edits and faults, then quiet,
then the oracle.

Everything random comes from `random.Random(seed)`: the users' edits (create, move,
rename, re-invite, cancel, detach, exceptions of recurring meetings, joins), and the
faults (dropped, duplicated and reordered notifications; Calendar and Meet 5xx and 429;
invalidated sync tokens; the worker killed mid-sync; the Firestore and Pub/Sub emulators
restarted). Between those steps, from a tape of its own (so a seed's calendar schedule
is the same with or without it), what happens in the meetings' Meet spaces: people join
(signed in, anonymous, by phone) and leave, a conference is ended for everyone,
recordings and transcripts are generated, and the delivery of Meet events is faulted
(dropped, duplicated, reordered). So a seed's schedule is the same on every run and a
failure is replayed by its number. After the last step the faults are lifted and the
harness plays Cloud Scheduler: whenever the system is idle yet does not match the ground
truth, it runs the product's sweep (the designed defence against lost notifications and
lost Meet events), and counts it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import google.api_core.exceptions
import googleapiclient.errors
import requests

from devstack.driver import Env
from devstack.stack import EVENTS_SUBSCRIPTION, Stack, StackError, http
from shared.domain.ids import meeting_id
from shared.domain.models import Meeting
from shared.store.firestore import MEETINGS
from tests.chaos.oracle import World, judge
from tests.chaos.tape import Schedule, Tape

T = TypeVar("T")
USERS = ("alice@example.com", "bob@example.com")
GUESTS = ("carol@example.com", "dave@example.com", "erin@example.com")
PEOPLE: tuple[dict[str, str], ...] = (
    *({"email": user} for user in USERS),
    {"anonymous": "Visitor A"},
    {"anonymous": "Visitor B"},
    {"phone": "+1 555 0100"},
)
"""Who joins a call: the seeded users signed in (the Directory names them), guests, a phone."""
CHAOS_ENV = {
    "CONFERENCE_WAIT_SECONDS": "1.5",
    "CHANNEL_OVERLAP_SECONDS": "2",
    "API_RETRIES": "2",
    # a lease whose holder died and whose message is gone (a Pub/Sub restart) frees in 20 s
    "LEASE_SECONDS": "20",
    # a meeting whose completion job a Pub/Sub restart lost is requeued by the next sweep
    "PENDING_REQUEUE_SECONDS": "20",
}
"""Function settings for stacks that run the fault suite (pytest's session stack too)."""
QUIET_TIMEOUT = 150.0
"""The convergence bound: after the last step every meeting must have settled (ready with
its event and space, failed with nothing left behind, or following the user's cancel or
detach) within this, the sweep being the only help from outside."""
GIVE_UP_AFTER_FAILURE = 0.5
"""How often a client stops after a 5xx (or a broken connection) instead of retrying, as
real clients do: what the server stored must then be finished or failed by the server."""
STABLE_SECONDS = 1.0
SWEEP_AFTER_IDLE_SECONDS = 2.0
BASE = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)

# step kind -> weight
USER_STEPS = {
    "create": 3.0,
    "create_recurring": 1.0,
    "create_space": 0.8,
    "rename": 3.0,
    "move": 2.0,
    "invite": 1.0,
    "cancel": 1.2,
    "detach": 0.4,
    "noise": 1.0,
    "move_occurrence": 1.0,
    "cancel_occurrence": 1.0,
    "join": 1.0,
}
FAULT_STEPS = {
    "push_chaos": 1.5,
    "push_calm": 0.8,
    "drop_next": 0.6,
    "api_5xx": 1.2,
    "api_429": 0.8,
    "meet_5xx": 0.5,
    "invalidate_tokens": 0.7,
    "kill_worker": 0.5,
    "restart_firestore": 0.2,
    "restart_pubsub": 0.2,
}

MEET_RATE = 0.35
"""How often a step is followed by something happening in Meet."""
MEET_STEPS = {
    "meet_join": 3.0,
    "meet_leave": 2.0,
    "meet_end": 0.8,
    "meet_artifact": 1.2,
    "events_chaos": 0.8,
    "events_calm": 0.5,
    "events_drop_next": 0.5,
}
CALM_EVENTS = {"drop_rate": 0.0, "drop_next": 0, "duplicate": False, "reorder": False}


@dataclass
class SeedResult:
    seed: int
    steps: list[str]
    problems: list[str]
    sweeps: int = 0
    seconds: float = 0.0
    settle_seconds: float = 0.0
    announcements: int = 0
    meetings: int = 0


@dataclass
class _Held:
    id: str
    user: str
    recurring: bool = False
    cancelled: bool = False
    promised: bool = False
    """Its create answered 202: the server inserts the event later (it may not exist yet)."""


PAST_MEETINGS: set[str] = set()
"""Meetings of the seeds already run on this stack. A publish whose wait timed out (an
emulator restart) may still reach Pub/Sub later, once the library's own retry gets
through: at least once, with the same id; such a late copy of an earlier seed's
announcement is not this seed's to judge."""


def _subject(message: dict[str, Any]) -> str:
    return str(message.get("subject", "")).removeprefix("meetings/")


@dataclass
class _Observer:
    """Collects every outbound CloudEvent from the stack's observer subscription."""

    env: Env
    received: list[dict[str, Any]] = field(default_factory=list)
    past: set[str] = field(default_factory=set)
    """Meetings of earlier seeds: their late announcements are left out."""

    def pull(self) -> int:
        """Take what is there now; an outage (a restarting emulator) just yields nothing."""
        try:
            got = self.env.pull(self._path())
        except google.api_core.exceptions.GoogleAPIError:  # restarting emulator: next round
            return 0
        self.received.extend(m for m in got if _subject(m) not in self.past)
        return len(got)

    def drain(self) -> None:
        """Pull until empty twice in a row (used while the publishers are frozen)."""
        empty = 0
        while empty < 2:
            empty = empty + 1 if self.pull() == 0 else 0

    def _path(self) -> str:
        return f"projects/{self.env.stack.project}/subscriptions/{EVENTS_SUBSCRIPTION}"


def plan(seed: int, length: int = 24) -> list[str]:
    """The kinds of a seed's steps, in order: about two thirds user edits, a third faults."""
    rng = random.Random(seed)
    kinds = []
    for _ in range(length):
        table = USER_STEPS if rng.random() < 0.65 else FAULT_STEPS
        kinds.append(rng.choices(list(table), weights=list(table.values()))[0])
    return kinds


def reset(stack: Stack) -> None:
    """A clean slate: Firestore emptied, emulator reset, users seeded, every function up."""
    for name in stack.function_urls:
        if not stack.procs[name].alive():
            stack.restart(name)
    try:
        stack.reset_firestore()
    except StackError:
        stack.fresh_firestore()  # a killed worker's transaction lock blocks the delete
    status, body = http("POST", f"{stack.workspace_url}/_emulator/reset", {})
    if status >= 300:
        raise RuntimeError(f"emulator reset: {status} {body[:200]!r}")
    stack.seed_users(USERS)


class Run:
    """One seed against a running stack."""

    def __init__(
        self, env: Env, seed: int, *, length: int, schedule: Schedule | None = None
    ) -> None:
        self.env = env
        self.seed = seed
        self.length = length
        self.kinds = list(schedule.kinds) if schedule is not None else plan(seed, length)
        draws = schedule.draws if schedule is not None else {}
        replay = schedule is not None
        self.rng = Tape(f"details-{seed}", draws.get("details", []) if replay else None)
        """Targets and arguments of the steps; the kinds come from `plan` (or `schedule`)."""
        self.client = Tape(f"client-{seed}", draws.get("client", []) if replay else None)
        """What the clients of create_meeting do after a failure (stop or retry)."""
        self.meet = Tape(f"meet-{seed}", draws.get("meet", []) if replay else None)
        """What happens in Meet between the steps: its own tape, so adding it changed no
        seed's calendar schedule (and a stored schedule replays with Meet activity)."""
        self.active_spaces: set[str] = set()
        """Spaces something happened in (their Meet events may be in flight)."""
        self._picks: list[float] = []
        """The current Meet step's numbers (`_meet_step`)."""
        self.lossy: set[str] = set()
        """Spaces whose Meet events a Pub/Sub restart may have lost."""
        self.held: list[_Held] = []
        self._known: set[str] = set()
        self._target: _Held | None = None
        """The meeting the current step acts on (`_live`)."""
        """Every meeting this seed's creates made, abandoned ones too."""
        self.log: list[str] = []
        self.observer = _Observer(env, past=PAST_MEETINGS)
        self._count = 0
        self._calendars: dict[str, Any] = {}

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> SeedResult:
        began = time.monotonic()
        self.observer.drain()
        self.observer.received.clear()
        delay = self.rng.choice((0, 200, 600))
        self.env.emu("POST", "config", {"conference_delay_ms": delay})
        self.log.append(f"conference delay {delay} ms")
        for user in USERS:
            self.env.watch(user)
        for kind in self.kinds:
            began_step = time.monotonic()
            self._target = None
            try:
                done = getattr(self, f"_{kind}")()
            except googleapiclient.errors.HttpError as exc:
                target = self._target
                # a user cannot edit an event the server has not inserted yet (its create
                # answered 202 and a completion job owns the insert): the step did nothing
                if exc.resp.status != 404 or target is None or not target.promised:
                    raise
                done = f"{kind} of {target.id}: no event yet (its create answered 202)"
            self.log.append(f"{done} [{time.monotonic() - began_step:.2f} s]")
            if self.meet.random() < MEET_RATE:
                began_step = time.monotonic()
                self.log.append(f"{self._meet_step()} [{time.monotonic() - began_step:.2f} s]")
            self.observer.pull()
            time.sleep(self.rng.uniform(0, 0.15))  # user think time, not a wait for anything
        self._calm()
        settling = time.monotonic()
        problems, sweeps = self._settle()
        return SeedResult(
            seed=self.seed,
            steps=self.log,
            problems=problems,
            sweeps=sweeps,
            seconds=time.monotonic() - began,
            settle_seconds=time.monotonic() - settling,
            announcements=len(self.observer.received),
            meetings=len(self.held),
        )

    def remember(self) -> None:
        """Note this seed's meetings as past (`PAST_MEETINGS`), whether it settled or not."""
        PAST_MEETINGS.update(self._known)
        PAST_MEETINGS.update(_subject(m) for m in self.observer.received)
        with contextlib.suppress(Exception):  # best effort: a broken stack fails anyway
            PAST_MEETINGS.update(m.id for m in self._world().meetings)

    def schedule(self, note: str = "") -> Schedule:
        """The schedule as run so far: kinds and draws, to store and replay exactly."""
        draws = {"details": self.rng.drawn, "client": self.client.drawn, "meet": self.meet.drawn}
        return Schedule(self.seed, list(self.kinds), draws, note)

    def _calm(self) -> None:
        self.env.emu(
            "POST", "push", {"drop_rate": 0.0, "drop_next": 0, "duplicate": False, "reorder": False}
        )
        self.env.emu("DELETE", "faults")
        self.env.emu("POST", "events_delivery", CALM_EVENTS)
        for name in self.env.stack.function_urls:
            if not self.env.stack.procs[name].alive():
                self.env.stack.restart(name)

    def _settle(self) -> tuple[list[str], int]:
        """Wait until the product matches the truth and stays so; sweep when idle but wrong."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        sweeps = 0
        stable_since: float | None = None
        idle_since: float | None = None
        seen = -1
        problems: list[str] = ["not judged yet"]
        while time.monotonic() < deadline:
            self.observer.pull()
            idle = self._idle()
            problems = judge(self._world())
            now = time.monotonic()
            if not problems and idle:
                if stable_since is None or seen != len(self.observer.received):
                    stable_since, seen = now, len(self.observer.received)
                elif now - stable_since >= STABLE_SECONDS:
                    return [], sweeps
            else:
                stable_since = None
            if problems and idle:
                idle_since = idle_since or now
                if now - idle_since >= SWEEP_AFTER_IDLE_SECONDS:
                    self.env.sweep()
                    sweeps += 1
                    idle_since = None
            else:
                idle_since = None
            time.sleep(0.2)  # polling interval of the settle loop
        busy = "" if self._idle() else " (a calendar was still leased)"
        return [f"did not settle within {QUIET_TIMEOUT:.0f} s{busy}", *problems], sweeps

    def _idle(self) -> bool:
        now = dt.datetime.now(dt.UTC)
        for user in USERS:
            state = self.env.calendar_state(user)
            # a dirty flag under a live lease is work in hand; under a dead holder's expired
            # lease it waits for the next signal, which is what the sweep is for
            if state.lease_owner and state.lease_expires and state.lease_expires > now:
                return False
        return True

    def _world(self) -> World:
        events: dict[str, Any] = {}
        for user in USERS:
            for event in self.env.emu("GET", f"calendars/{user}/events"):
                events[event["id"]] = event
        meetings = [
            Meeting.from_dict(doc.to_dict() or {})
            for doc in self.env.store.client.collection(MEETINGS).stream()
        ]
        return World(
            events=events,
            spaces=self.env.emu("GET", "spaces"),
            meetings=meetings,
            stream=list(self.observer.received),
            deliveries=self.env.emu("GET", "event_deliveries"),
            lossy=set(self.lossy),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _live(self, *, recurring: bool | None = None) -> _Held | None:
        live = [
            h
            for h in self.held
            if not h.cancelled and (recurring is None or h.recurring == recurring)
        ]
        self._target = self.rng.choice(live) if live else None
        return self._target

    def _calendar(self, user: str) -> Any:
        if user not in self._calendars:
            self._calendars[user] = self.env.calendar_as(user)
        return self._calendars[user].events()

    def _patch(self, user: str, event_id: str, body: dict[str, Any], **params: Any) -> None:
        """The user's own events.patch of one of their events."""
        events = self._calendar(user)
        self._edit(events.patch(calendarId="primary", eventId=event_id, body=body, **params))

    def _edit(self, request: Any) -> Any:
        """A user's own Calendar call; their client retries 5xx and rate limits like Google's."""
        return request.execute(num_retries=8)

    def _slot(self) -> tuple[str, str]:
        start = BASE + dt.timedelta(hours=self.rng.randrange(0, 24 * 20))
        return start.isoformat(), (
            start + dt.timedelta(minutes=self.rng.choice((30, 60)))
        ).isoformat()

    def _create(self, *, recurring: bool = False, space: bool = False) -> str:
        self._count += 1
        user = self.rng.choice(USERS)
        start, end = self._slot()
        body: dict[str, Any] = {
            "organizer": user,
            "summary": f"s{self.seed} m{self._count}",
            "start": start,
            "end": end,
        }
        if recurring:
            body.update(recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"], timeZone="UTC")
        if space:
            body["conference"] = {"mode": "space"}
        key = uuid.UUID(int=self.rng.getrandbits(128)).hex
        answers: list[str] = []
        meeting = self._call_until_accepted(body, key, answers)
        kind = " recurring" if recurring else " space" if space else ""
        if meeting is None:  # the client gave up: the server owns whatever it stored
            mid = meeting_id(user, key)
            self._known.add(mid)
            return f"create {mid} for {user}{kind} abandoned (answers {' '.join(answers)})"
        promised = answers[-1] == "202"
        self.held.append(_Held(meeting["id"], user, recurring=recurring, promised=promised))
        self._known.add(meeting["id"])
        return f"create {meeting['id']} for {user}{kind} (answers {' '.join(answers)})"

    def _call_until_accepted(
        self, body: dict[str, Any], key: str, answers: list[str]
    ) -> dict[str, Any] | None:
        """What a client does: take a 201 or a 202 and go (a 202 is the server's promise);
        after a 5xx, retry with the same Idempotency-Key, or give up (None)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                response = self.env.call(
                    "create_meeting", "POST", "/meetings", body, headers={"Idempotency-Key": key}
                )
                answers.append(str(response.status_code))
                if response.status_code in (200, 201, 202):
                    return dict(response.json())
                if response.status_code < 500 and response.status_code != 409:
                    raise AssertionError(f"create refused: {response.status_code} {response.text}")
                why = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                answers.append(type(exc).__name__)
                why = repr(exc)
            if self.client.random() < GIVE_UP_AFTER_FAILURE:
                return None
            if time.monotonic() > deadline:
                raise AssertionError(f"create never accepted; last answer {why}")
            time.sleep(0.3)  # client backoff before retrying the same request

    # -- user steps --------------------------------------------------------------------------

    def _create_recurring(self) -> str:
        return self._create(recurring=True)

    def _create_space(self) -> str:
        return self._create(space=True)

    def _rename(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        summary = f"renamed {self.rng.randrange(10**6)}"
        body = {"summary": summary}
        self._patch(held.user, held.id, body)
        return f"rename {held.id} to {summary!r}"

    def _move(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        start, end = self._slot()
        body = {"start": {"dateTime": start}, "end": {"dateTime": end}}
        if held.recurring:
            body = {k: {**v, "timeZone": "UTC"} for k, v in body.items()}
        self._patch(held.user, held.id, body)
        return f"move {held.id} to {start}"

    def _invite(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        guests = self.rng.sample(GUESTS, self.rng.randrange(0, len(GUESTS) + 1))
        body = {"attendees": [{"email": g} for g in guests]}
        self._patch(held.user, held.id, body)
        return f"invite {guests} to {held.id}"

    def _cancel(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        self._edit(self._calendar(held.user).delete(calendarId="primary", eventId=held.id))
        held.cancelled = True
        return f"cancel {held.id}"

    def _detach(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        self._patch(held.user, held.id, {"conferenceData": None}, conferenceDataVersion=1)
        return f"remove the conference of {held.id}"

    def _noise(self) -> str:
        user = self.rng.choice(USERS)
        start, end = self._slot()
        body = {"summary": "not a meeting", "start": {"dateTime": start}, "end": {"dateTime": end}}
        self._edit(self._calendar(user).insert(calendarId="primary", body=body))
        return f"plain event for {user}"

    def _occurrence(self, held: _Held) -> str | None:
        items = self._edit(
            self._calendar(held.user).instances(calendarId="primary", eventId=held.id)
        )
        live = [i for i in items.get("items", []) if i.get("status") != "cancelled"]
        return str(self.rng.choice(live)["id"]) if live else None

    def _move_occurrence(self) -> str:
        held = self._live(recurring=True)
        if held is None:
            return self._create_recurring()
        occurrence = self._occurrence(held)
        if occurrence is None:
            return f"no occurrence of {held.id} left"
        start, end = self._slot()
        body = {
            "summary": f"one-off {self.rng.randrange(1000)}",
            "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"},
        }
        self._patch(held.user, occurrence, body)
        return f"move occurrence {occurrence}"

    def _cancel_occurrence(self) -> str:
        held = self._live(recurring=True)
        if held is None:
            return self._create_recurring()
        occurrence = self._occurrence(held)
        if occurrence is None:
            return f"no occurrence of {held.id} left"
        self._edit(self._calendar(held.user).delete(calendarId="primary", eventId=occurrence))
        return f"cancel occurrence {occurrence}"

    def _join(self) -> str:
        held = self._live()
        if held is None:
            return self._create()
        stored = self.env.emu("GET", f"calendars/{held.user}/events")
        event: dict[str, Any] = next((e for e in stored if e["id"] == held.id), {})
        code = (event.get("conferenceData") or {}).get("conferenceId")
        if not code:
            return f"no conference to join on {held.id} yet"
        self.env.emu("POST", f"spaces/{code}/join", {})
        return f"join the conference of {held.id}"

    # -- fault steps -------------------------------------------------------------------------

    def _push_chaos(self) -> str:
        settings = {
            "drop_rate": self.rng.choice((0.0, 0.2, 0.5)),
            "duplicate": self.rng.random() < 0.5,
            "reorder": self.rng.random() < 0.5,
            "seed": self.rng.randrange(10**6),
        }
        self.env.emu("POST", "push", settings)
        return f"push {settings}"

    def _push_calm(self) -> str:
        self.env.emu("POST", "push", {"drop_rate": 0.0, "duplicate": False, "reorder": False})
        return "push calm"

    def _drop_next(self) -> str:
        n = self.rng.randrange(1, 4)
        self.env.emu("POST", "push", {"drop_next": n})
        return f"drop the next {n} notifications"

    def _fault(self, spec: dict[str, Any]) -> str:
        self.env.emu("POST", "faults", spec)
        return f"fault {spec}"

    def _api_5xx(self) -> str:
        return self._fault(
            {
                "status": self.rng.choice((500, 502, 503)),
                "api": "calendar",
                "count": self.rng.randrange(1, 4),
                "method": self.rng.choice(("GET", "PATCH", "POST")),
            }
        )

    def _api_429(self) -> str:
        return self._fault(
            {
                "status": 429,
                "reason": "rateLimitExceeded",
                "api": "calendar",
                "count": self.rng.randrange(1, 4),
            }
        )

    def _meet_5xx(self) -> str:
        return self._fault({"status": 503, "api": "meet", "count": self.rng.randrange(1, 3)})

    def _invalidate_tokens(self) -> str:
        user = self.rng.choice(USERS)
        self.env.emu("POST", f"calendars/{user}/invalidate_sync_tokens", {})
        return f"invalidate the sync tokens of {user}"

    def _kill_worker(self) -> str:
        """Slow the next listing down, make a change, and kill the worker while it syncs."""
        user = self.rng.choice(USERS)
        self.env.emu(
            "POST", "faults", {"status": 0, "delay_ms": 1500, "api": "calendar", "method": "GET"}
        )
        self.env.emu("POST", f"calendars/{user}/notify", {})
        mid_sync = _poll(lambda: bool(self.env.calendar_state(user).lease_owner), timeout=3.0)
        self.env.stack.kill("sync_worker")
        self.env.stack.restart("sync_worker")
        return f"kill the worker {'mid-sync' if mid_sync else 'while idle'} ({user})"

    def _restart_firestore(self) -> str:
        self.env.stack.restart_firestore()
        return "restart the Firestore emulator"

    def _restart_pubsub(self) -> str:
        self.lossy |= self.active_spaces  # their events on the way may be lost with it
        self.env.stack.restart_pubsub(drain=self.observer.drain)
        return "restart the Pub/Sub emulator"

    # -- Meet steps (their own tape) ----------------------------------------------------------

    def _meet_step(self) -> str:
        """One Meet step. It draws the same five numbers whatever it finds (a call may or
        may not be running yet, by timing), so the rest of the tape stays in step."""
        point, *self._picks = (self.meet.random() for _ in range(5))
        point *= sum(MEET_STEPS.values())
        kind = list(MEET_STEPS)[-1]
        for name, weight in MEET_STEPS.items():
            point -= weight
            if point <= 0:
                kind = name
                break
        return str(getattr(self, f"_{kind}")())

    def _pick(self, options: Sequence[T], n: int) -> T:
        """Option `n` of the step's pre-drawn numbers applied to `options` (not empty)."""
        return options[min(int(self._picks[n] * len(options)), len(options) - 1)]

    def _spaces(self) -> list[dict[str, Any]]:
        """The Meet spaces of this seed's meetings the users still hold (by their events'
        conference), in the order the meetings were made."""
        codes: dict[str, str] = {}
        for user in USERS:
            for event in self.env.emu("GET", f"calendars/{user}/events"):
                code = (event.get("conferenceData") or {}).get("conferenceId")
                if code and event.get("status") != "cancelled":
                    codes[event["id"]] = code
        by_code = {s.get("meetingCode"): s for s in self.env.emu("GET", "spaces")}
        found = [by_code.get(codes.get(h.id)) for h in self.held if not h.cancelled]
        return [s for s in found if s is not None]

    def _activity(self, space: dict[str, Any], action: str, body: dict[str, Any]) -> bool:
        """One control call on a space; False when Meet says no (a conference the product
        ended meanwhile: its cancellation ends it)."""
        sid = str(space["name"]).removeprefix("spaces/")
        response = self.env.http.request(
            "POST",
            f"{self.env.stack.workspace_url}/_emulator/spaces/{sid}/{action}",
            json=body,
            timeout=10,
        )
        if response.status_code == 409:
            return False
        assert response.status_code < 300, (action, response.status_code, response.text)
        self.active_spaces.add(str(space["name"]))
        return True

    @staticmethod
    def _running(space: dict[str, Any]) -> dict[str, Any] | None:
        return next((c for c in space.get("conferences", []) if not c.get("ended")), None)

    def _meet_join(self) -> str:
        spaces = self._spaces()
        if not spaces:
            return "meet: no space to join"
        space, who = self._pick(spaces, 0), self._pick(PEOPLE, 1)
        done = self._activity(space, "join", who)
        return f"meet: {who} joins {space['name']}" + ("" if done else " (refused)")

    def _meet_leave(self) -> str:
        running = [
            (s, p)
            for s in self._spaces()
            if (c := self._running(s)) is not None
            for p in c.get("participants", [])
            if p.get("in_call")
        ]
        if not running:
            return "meet: nobody in a call to leave"
        space, person = self._pick(running, 0)
        if "signedinUser" in person:
            who = {"email": str(person["email"])}
        elif "phoneUser" in person:
            who = {"phone": str(person["phoneUser"]["displayName"])}
        else:
            who = {"anonymous": str(person["anonymousUser"]["displayName"])}
        done = self._activity(space, "leave", who)
        return f"meet: {who} leaves {space['name']}" + ("" if done else " (had gone)")

    def _meet_end(self) -> str:
        running = [s for s in self._spaces() if self._running(s) is not None]
        if not running:
            return "meet: no call to end"
        space = self._pick(running, 0)
        done = self._activity(space, "end", {})
        return f"meet: the call in {space['name']} is ended" + ("" if done else " (had ended)")

    def _meet_artifact(self) -> str:
        held = [s for s in self._spaces() if s.get("conferences")]
        if not held:
            return "meet: no conference to record"
        space, kind = self._pick(held, 0), self._pick(("recording", "transcript"), 1)
        self._activity(space, "artifacts", {"kind": kind})
        return f"meet: a {kind} of {space['name']}"

    def _events_chaos(self) -> str:
        settings = {
            "drop_rate": self._pick((0.0, 0.2, 0.5), 0),
            "duplicate": self._picks[1] < 0.5,
            "reorder": self._picks[2] < 0.5,
            "seed": int(self._picks[3] * 10**6),
        }
        self.env.emu("POST", "events_delivery", settings)
        return f"meet events {settings}"

    def _events_calm(self) -> str:
        self.env.emu("POST", "events_delivery", CALM_EVENTS)
        return "meet events calm"

    def _events_drop_next(self) -> str:
        n = self._pick((1, 2, 3), 0)
        self.env.emu("POST", "events_delivery", {"drop_next": n})
        return f"drop the next {n} Meet events"


def _poll(check: Callable[[], bool], *, timeout: float) -> bool:
    """True once `check` holds, False when `timeout` passes first (no failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def run_seed(
    stack: Stack,
    seed: int,
    *,
    length: int = 24,
    schedule: Schedule | None = None,
    record: Path | None = None,
) -> SeedResult:
    """Reset the stack and run one seed (or replay a stored `schedule`); the result lists
    every discrepancy. `record`: where to store the schedule as run (to replay it)."""
    reset(stack)
    env = Env(stack)
    run = Run(env, seed, length=length, schedule=schedule)
    try:
        return run.run()
    except Exception as exc:  # a harness failure fails this seed, with its steps so far
        problem = f"harness error in step {len(run.log)}: {exc!r}"
        return SeedResult(seed, run.log, [problem], meetings=len(run.held))
    finally:
        run.remember()
        env.close()
        if record is not None:
            run.schedule(note=schedule.note if schedule is not None else "").save(record)


def replay(stack: Stack, path: Path) -> SeedResult:
    """Run a stored schedule (`tests/chaos/fixtures`) exactly as it was recorded."""
    schedule = Schedule.load(path)
    return run_seed(stack, schedule.seed, length=len(schedule.kinds), schedule=schedule)
