"""Commands that show and change records: status, users, calendars, channels, meetings.

Each returns its exit status: 0 all is well, 1 it found a problem; a usage error
raises `CliError` (2). `--json` prints the documented JSON (README).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from meetsync_cli import inproc
from meetsync_cli.context import Context, answer
from meetsync_cli.dlq import DeadLetters
from meetsync_cli.output import ago, cell, iso
from meetsync_cli.status import summarize
from meetsync_cli.target import CliError
from shared.domain.errors import ApiError
from shared.domain.models import (
    CalendarState,
    CalendarStatus,
    Channel,
    ChannelState,
    MeetingStatus,
    UserStatus,
    calendar_key,
)
from shared.domain.ports import Json
from shared.services.runs import latest_run
from shared.store.firestore import MEETINGS, USERS

ALL_CHANNELS = [s.value for s in ChannelState]
ALL_MEETINGS = [s.value for s in MeetingStatus]

# -- status ---------------------------------------------------------------------------------


def status(ctx: Context) -> int:
    store, now = ctx.target.store, ctx.now()
    summary = summarize(
        users=store.count_by(USERS, "status", [s.value for s in UserStatus]),
        calendars=store.all_calendars(),
        channels=store.channels_in_state(ALL_CHANNELS),
        meetings=store.count_by(MEETINGS, "status", ALL_MEETINGS),
        dead_letter=len(DeadLetters(ctx.target).peek()),
        last_renew=latest_run(store, "renew"),
        last_sweep=latest_run(store, "sweep"),
        last_audit=latest_run(store, "audit"),
        now=now,
        stale_after=ctx.args.stale_after,
    )
    summary["target"] = ctx.target.name
    if ctx.out.as_json:
        ctx.out.json(summary)
        return 1 if summary["problems"] else 0
    channels = summary["channels"]
    ctx.out.pairs(
        f"meetsync status: {ctx.target.name}",
        {
            "users": summary["users"],
            "calendars": summary["calendars"],
            "channels": channels["by_state"],
            "expiring within 24h": channels["expiring_within_24h"],
            "expired, not renewed": channels["expired"],
            "meetings": summary["meetings"],
            "dead letter": summary["dead_letter"]["depth"],
            "last renew": _run_line(summary["last_renew"]),
            "last sweep": _run_line(summary["last_sweep"]),
            "last audit": _run_line(summary["last_audit"]),
        },
    )
    stale = summary["stale_calendars"]
    columns = {"calendar": "calendar", "last synced": "last_synced_at"}
    ctx.out.records("stale calendars", stale, columns)
    for problem in summary["problems"]:
        ctx.out.line(f"problem: {problem}", style="red")
    if not summary["problems"]:
        ctx.out.line("all well", style="green")
    return 1 if summary["problems"] else 0


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never (no report stored)"
    return f"{run['outcome']} at {cell(run['finished_at'])}: {run['error'] or cell(run['counts'])}"


# -- users ----------------------------------------------------------------------------------


def users_list(ctx: Context) -> int:
    store = ctx.target.store
    owners = Counter(state.owner for state in store.all_calendars())
    users = [
        {**user.public(), "calendars": owners[user.email]}
        for user in sorted(store.all_users(), key=lambda u: u.email)
        if not ctx.args.status or user.status == ctx.args.status
    ]
    columns = {
        "email": "email",
        "auth mode": "authMode",
        "status": "status",
        "calendars": "calendars",
        "updated": "updatedAt",
    }
    ctx.out.listing("users", users, columns)
    return 0


def users_show(ctx: Context) -> int:
    user = answer("users", *ctx.target.call("users", "GET", f"/users/{ctx.args.email}"))
    if ctx.out.as_json:
        ctx.out.json(user)
    else:
        ctx.out.pairs(user["email"], {k: v for k, v in user.items() if k != "calendars"})
        columns = {
            "calendar": "calendarId",
            "status": "status",
            "why": "statusReason",
            "last synced": "lastSyncedAt",
            "channel expires": "channelExpiration",
        }
        ctx.out.records("calendars", user["calendars"], columns)
    return 0 if user["status"] == UserStatus.ACTIVE else 1


def users_add(ctx: Context) -> int:
    body = {"email": ctx.args.email, "authMode": "delegation"}
    status, found = ctx.target.call("users", "POST", "/users", body=body)
    _changed(ctx, answer("users", status, found), "registered" if status == 201 else "unchanged")
    return 0


def users_disconnect(ctx: Context) -> int:
    found = answer("users", *ctx.target.call("users", "DELETE", f"/users/{ctx.args.email}"))
    _changed(ctx, found, "disconnected" if found.get("changed") else "unchanged")
    return 0


def _changed(ctx: Context, body: dict[str, Any], what: str) -> None:
    if ctx.out.as_json:
        ctx.out.json(body)
    else:
        ctx.out.pairs(f"{body.get('email', '')}: {what}", body)


# -- calendars ------------------------------------------------------------------------------


def calendar_view(state: CalendarState, channels: list[Channel]) -> dict[str, Any]:
    live = [c.expiration for c in channels if c.state != ChannelState.STOPPED]
    return {
        "calendar": state.key,
        "owner": state.owner,
        "calendar_id": state.calendar_id,
        "status": state.status,
        "status_reason": state.status_reason or None,
        "last_synced_at": iso(state.last_sync_finished),
        "last_sync_started_at": iso(state.last_sync_started),
        "syncs": state.syncs,
        "has_sync_token": bool(state.sync_token),
        "lease_owner": state.lease_owner or None,
        "lease_expires": iso(state.lease_expires),
        "dirty": state.dirty,
        "channel_expiration": iso(max(live)) if live else None,
    }


def calendars_list(ctx: Context) -> int:
    store = ctx.target.store
    states = store.calendars_of(ctx.args.user) if ctx.args.user else store.all_calendars()
    channels: dict[str, list[Channel]] = {}
    for channel in store.channels_in_state(ALL_CHANNELS):
        channels.setdefault(channel.calendar_key, []).append(channel)
    views = [
        calendar_view(s, channels.get(s.key, []))
        for s in sorted(states, key=lambda s: s.key)
        if not ctx.args.status or s.status == ctx.args.status
    ]
    columns = {
        "calendar": "calendar",
        "status": "status",
        "last synced": "last_synced_at",
        "syncs": "syncs",
        "channel expires": "channel_expiration",
    }
    ctx.out.listing("calendars", views, columns)
    return 0


def known_calendar(ctx: Context) -> CalendarState:
    user, calendar_id = ctx.args.calendar
    state = ctx.target.store.get_calendar(calendar_key(user, calendar_id))
    if state is None:
        raise CliError(f"no calendar {user}:{calendar_id} is known (watch it first)", 2)
    return state


def calendars_show(ctx: Context) -> int:
    store = ctx.target.store
    state = known_calendar(ctx)
    channels = sorted(store.channels_for(state.key), key=lambda c: c.expiration)
    heads = store.meeting_heads(state.key, ALL_MEETINGS)
    finished = state.last_sync_finished
    view = {
        **calendar_view(state, channels),
        "stale": finished is None or finished < ctx.now() - ctx.args.stale_after,
        "meetings": {s: sum(h.status == s for h in heads) for s in ALL_MEETINGS},
        "channels": [
            {
                "id": c.id,
                "state": c.state,
                "expiration": iso(c.expiration),
                "replaced_by": c.replaced_by or None,
            }
            for c in channels
        ],
    }
    if ctx.out.as_json:
        ctx.out.json(view)
    else:
        ctx.out.pairs(state.key, {k: v for k, v in view.items() if k != "channels"})
        columns = {
            "channel": "id",
            "state": "state",
            "expires": "expiration",
            "replaced by": "replaced_by",
        }
        ctx.out.records("channels", view["channels"], columns)
    return 0 if state.status == CalendarStatus.WATCHING and not view["stale"] else 1


def calendars_watch(ctx: Context, method: str = "POST") -> int:
    user, calendar_id = ctx.args.calendar
    body = {"user": user, "calendarId": calendar_id}
    found = answer(
        "watch_calendar", *ctx.target.call("watch_calendar", method, "/calendars", body=body)
    )
    if ctx.out.as_json:
        ctx.out.json(found)
    else:
        ctx.out.pairs(f"{user}:{calendar_id}", found)
    return 0


def calendars_unwatch(ctx: Context) -> int:
    return calendars_watch(ctx, "DELETE")


# -- channels -------------------------------------------------------------------------------


def channels_list(ctx: Context) -> int:
    now, args = ctx.now(), ctx.args
    channels = ctx.target.store.channels_in_state([args.state] if args.state else ALL_CHANNELS)
    if args.expiring is not None:
        channels = [
            c
            for c in channels
            if c.state == ChannelState.ACTIVE and c.expiration <= now + args.expiring
        ]
    views = [
        {
            "id": c.id,
            "calendar": c.calendar_key,
            "state": c.state,
            "expiration": iso(c.expiration),
            "expires_in": ago(c.expiration, now),
            "replaced_by": c.replaced_by or None,
            "created_at": iso(c.created_at),
        }
        for c in sorted(channels, key=lambda c: c.expiration)
    ]
    columns = {
        "channel": "id",
        "calendar": "calendar",
        "state": "state",
        "expires": "expiration",
        "": "expires_in",
    }
    ctx.out.listing("channels", views, columns)
    return 0


# -- meetings -------------------------------------------------------------------------------


def meetings_show(ctx: Context) -> int:
    """The record, its event and its space (read now, as the organizer), and the
    announcements sent for it."""
    target = ctx.target
    meeting = target.store.get_meeting(ctx.args.id)
    if meeting is None:
        raise CliError(f"no meeting {ctx.args.id}", 2)
    record = {
        **meeting.public(),
        "calendarKey": meeting.calendar_key,
        "eventEtag": meeting.event_etag or None,
        "pendingAnnouncements": [{"id": e["id"], "type": e["type"]} for e in meeting.outbox],
    }
    view: dict[str, Any] = {
        "meeting": record,
        "announcements": list(meeting.announced),
        "event": None,
        "eventError": None,
        "space": None,
        "spaceError": None,
    }
    if not ctx.args.no_google:
        services, m = inproc.services(target.settings, target.store, target.publisher), meeting
        if m.event_id:
            view["event"], view["eventError"] = _google(
                lambda: services.calendar.get_event(m.organizer, m.calendar_id, m.event_id)
            )
        if m.space:
            view["space"], view["spaceError"] = _google(
                lambda: services.meet.get_space(m.organizer, m.space)
            )
    if ctx.out.as_json:
        ctx.out.json(view)
        return 1 if view["eventError"] or view["spaceError"] else 0
    event, space = view["event"] or {}, view["space"] or {}
    ctx.out.pairs(f"meeting {meeting.id}", record)
    ctx.out.pairs(
        "its event",
        {
            "status": event.get("status"),
            "summary": event.get("summary"),
            "start": event.get("start"),
            "updated": event.get("updated"),
            "conference": (event.get("conferenceData") or {}).get("conferenceId"),
            "error": view["eventError"],
        },
    )
    ctx.out.pairs(
        "its space",
        {
            "name": space.get("name"),
            "meetingUri": space.get("meetingUri"),
            "activeConference": space.get("activeConference"),
            "error": view["spaceError"],
        },
    )
    columns = {"sent": "time", "type": "type", "id": "id"}
    ctx.out.records("announcements", view["announcements"], columns)
    return 1 if view["eventError"] or view["spaceError"] else 0


def _google(read: Callable[[], Json]) -> tuple[Json | None, str | None]:
    """(what Google answered, None) or (None, why it did not)."""
    try:
        return read(), None
    except ApiError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def meetings_list(ctx: Context) -> int:
    meetings = [
        m.public() for m in ctx.target.store.meetings_by_organizer(ctx.args.user, ctx.args.status)
    ]
    meetings.sort(key=lambda m: (_start(m), m["id"]))
    if ctx.out.as_json:
        ctx.out.json({"meetings": meetings})
    else:
        rows = [{**m, "start": _start(m)} for m in meetings]
        columns = {
            "meeting": "id",
            "status": "status",
            "summary": "summary",
            "start": "start",
            "version": "version",
            "space": "space",
        }
        ctx.out.records(f"meetings of {ctx.args.user}", rows, columns)
    return 0


def _start(meeting: dict[str, Any]) -> str:
    start = meeting["start"] or {}
    return str(start.get("dateTime") or start.get("date") or "")
