"""`make demo`: the main job, end to end, on the local stack.

Starts the stack; a demo user connects their Google account through the sign-in
flow over plain HTTP (GET /connect, the workspace emulator's consent page, Allow,
the callback), which stores their refresh token and watches their primary calendar;
then create_meeting makes a Meet link for them, and the demo acts as the user in
Google Calendar (through the workspace emulator): moves the meeting, renames it,
cancels it. Each change is followed to the meeting record and to the `meeting-events`
stream, with the time it took; the cancellation must end the running conference.
Exits 0 only if all of it happened.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

from devstack.browser import Browser, query_of
from devstack.driver import Env, types_for
from devstack.stack import Stack, StackError
from shared.domain.models import Meeting

USER = "alice@example.com"
GUEST = "bob@example.com"
LIVE = ("meeting.started", "meeting.ended", "meeting.recording_ready")


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _follow(
    env: Env,
    meeting_id: str,
    subscription: str,
    change: Callable[[], None],
    arrived: Callable[[Meeting], bool],
    kind: str,
    events: list[dict[str, Any]],
) -> tuple[float, Meeting]:
    """Make a change as the user; time it until the record shows it and its event is out."""
    began = time.monotonic()
    change()
    record = env.wait_meeting(meeting_id, arrived, kind)
    took = time.monotonic() - began
    seen = env.events_until(subscription, lambda s: kind in types_for(events + s, meeting_id))
    events.extend(seen)
    event = next(e for e in reversed(events) if e["type"] == kind)
    print(f"   record updated in {took * 1000:.0f} ms; event {kind} id={event['id'][:12]}…")
    return took, record


def _live_meeting(
    env: Env, mid: str, space_id: str, subscription: str, events: list[dict[str, Any]]
) -> None:
    """Two people join, one leaves, the conference ends, a recording is generated: Meet's
    events reach the record through Workspace Events → Pub/Sub → meet_events."""
    _step("the meeting happens in Meet (Workspace Events → meet_events)")
    record = env.wait_meeting(mid, lambda m: m.subscription_state == "active", "subscribed")
    print(f"   subscribed to the space's Meet events: {record.subscription}")
    began = time.monotonic()
    for path, body, then in (
        ("join", {"email": USER}, 0),
        ("join", {"email": GUEST}, 300),  # Meet's time: the emulator clock moves on
        ("leave", {"email": GUEST}, 600),
        ("end", {}, 0),
        ("artifacts", {"kind": "recording"}, 0),
    ):
        env.emu("POST", f"spaces/{space_id}/{path}", body)
        print(f"   {path} {next(iter(body.values()), '')}".rstrip())
        if then:
            env.emu("POST", "clock", {"advance_seconds": then})
    record = env.wait_meeting(
        mid,
        lambda m: (
            bool(m.conferences)
            and m.conferences[-1]["state"] == "ended"
            and any(r.get("fileId") for r in m.conferences[-1]["recordings"])
        ),
        "conference ended with its recording",
    )
    took = time.monotonic() - began
    seen = env.events_until(subscription, lambda s: set(LIVE) <= set(types_for(events + s, mid)))
    events.extend(seen)
    for event in (e for e in events if e["type"] in LIVE and e["subject"] == f"meetings/{mid}"):
        print(f"   event {event['type']} id={event['id'][:12]}…")
    view = record.public()
    conf = view["conference"]
    print(f"   record: {conf['state']} after {conf['durationSeconds']} s, {took * 1000:.0f} ms")
    for row in view["attendance"]["attendees"]:
        joined = "joined" if row["joined"] else "did not join"
        print(f"   attendance: {row['email']} {joined}, {row['totalSeconds']} s")
    for recording in view["artifacts"]["recordings"]:
        print(f"   recording: Drive file {recording['fileId']}")


def run(stack: Stack) -> list[tuple[str, float]]:
    env = Env(stack)
    timings: list[tuple[str, float]] = []
    try:
        _step(f"{USER} connects their Google account (Google sign-in, no browser: HTTP)")
        subscription = env.subscribe()
        browser = Browser(stack)
        consent = browser.authorize(login_hint=USER)
        print(f"   GET /connect → 302 to the consent screen {consent.split('?')[0]}")
        callback = browser.click(browser.consent(consent), "allow")
        print(f"   Allow → 302 to {callback.split('?')[0]} (scopes: {query_of(callback)['scope']})")
        page = browser.get(callback)
        if page.status_code != 200 or 'id="connected"' not in page.text:
            raise AssertionError(f"the callback answered {page.status_code}: {page.text[:300]}")
        connected = env.call("users", "GET", f"/users/{USER}").json()
        print(f"   {USER} is {connected['status']}, auth mode {connected['authMode']}")
        events: list[dict[str, Any]] = env.events_until(
            subscription, lambda seen: any(e["type"] == "user.connected" for e in seen)
        )
        print(f"   event user.connected id={events[-1]['id'][:12]}…")

        _step(f"{USER}'s primary calendar is watched (the connect did it)")
        watched = env.watch(USER)
        print(f"   channel {watched['channelId']} until {watched['expiration']}")

        _step("create a meeting with a Meet link (create_meeting)")
        began = time.monotonic()
        soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
        meeting = env.create_meeting(
            USER,
            "Quarterly planning",
            attendees=[{"email": GUEST}],
            start=soon.isoformat(),
            end=(soon + dt.timedelta(hours=1)).isoformat(),
        )
        took_ms = (time.monotonic() - began) * 1000
        print(f"   {meeting['status']} in {took_ms:.0f} ms: {meeting['meetingUri']}")
        print(f"   space {meeting['space']}, event {meeting['eventId']}")
        mid = meeting["id"]
        ready = env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
        space_id = ready.space.split("/", 1)[1]
        _live_meeting(env, mid, space_id, subscription, events)
        env.emu("POST", f"spaces/{space_id}/join", {})
        print("   a participant joined the conference")
        cal = env.calendar_as(USER)

        _step("the user moves it to the next day in Google Calendar")
        new_start, new_end = "2026-12-02T15:00:00+00:00", "2026-12-02T16:00:00+00:00"
        took, record = _follow(
            env,
            mid,
            subscription,
            lambda: (
                cal.events()
                .patch(
                    calendarId="primary",
                    eventId=mid,
                    body={"start": {"dateTime": new_start}, "end": {"dateTime": new_end}},
                )
                .execute()
            ),
            lambda m: m.start.get("dateTime", "").startswith("2026-12-02T15"),
            "meeting.rescheduled",
            events,
        )
        print(f"   record now starts {record.start['dateTime']}")
        timings.append(("move", took))

        _step("the user renames it")
        took, record = _follow(
            env,
            mid,
            subscription,
            lambda: (
                cal.events()
                .patch(calendarId="primary", eventId=mid, body={"summary": "Q1 planning"})
                .execute()
            ),
            lambda m: m.summary == "Q1 planning",
            "meeting.updated",
            events,
        )
        print(f"   record summary is now {record.summary!r}")
        timings.append(("rename", took))

        _step("the user cancels it")
        took, record = _follow(
            env,
            mid,
            subscription,
            lambda: cal.events().delete(calendarId="primary", eventId=mid).execute(),
            lambda m: m.status == "cancelled",
            "meeting.cancelled",
            events,
        )
        space = env.emu("GET", f"spaces/{space_id}")
        ended = bool(space["conferences"]) and all(c["ended"] for c in space["conferences"])
        if not ended:
            raise AssertionError(f"the conference of {ready.space} was not ended: {space}")
        print(f"   record status {record.status}; the Meet conference was ended")
        timings.append(("cancel", took))

        stream = types_for(events + env.pull(subscription), mid)
        print(f"\n   meeting-events for this meeting: {', '.join(stream)}")
        return timings
    finally:
        env.close()


def main() -> int:
    print("starting the local stack (Firestore, Pub/Sub, workspace emulator, functions)…")
    stack = Stack()
    try:
        stack.start()
    except StackError as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"stack up in {stack.started_in:.1f} s")
        timings = run(stack)
    except Exception as exc:  # a demo reports any failure plainly and exits non-zero
        print(f"\nDEMO FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
    print("\nSummary: change in Google Calendar → product meeting record")
    for what, took in timings:
        print(f"   {what:<8} {took * 1000:7.0f} ms")
    print("demo passed; the stack is stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
