"""Calendar storage primitives: resolving a calendar, validating times, committing writes.

Every change to an event goes through :func:`commit`, which is what makes the
change visible everywhere at once: new etag and ``updated``, an entry in the
calendar's change history (incremental sync) and push notifications.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, date, datetime
from typing import Any

from emulator import recurrence
from emulator.clock import parse_rfc3339, rfc3339
from emulator.errors import calendar_error
from emulator.state import CalendarData, Emulator, StoredEvent

JSON = dict[str, Any]

EVENT_FIELDS = (
    "kind",
    "etag",
    "id",
    "status",
    "htmlLink",
    "created",
    "updated",
    "summary",
    "description",
    "location",
    "colorId",
    "creator",
    "organizer",
    "start",
    "end",
    "endTimeUnspecified",
    "recurrence",
    "recurringEventId",
    "originalStartTime",
    "transparency",
    "visibility",
    "iCalUID",
    "sequence",
    "attendees",
    "attendeesOmitted",
    "extendedProperties",
    "hangoutLink",
    "conferenceData",
    "gadget",
    "anyoneCanAddSelf",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "privateCopy",
    "locked",
    "reminders",
    "source",
    "workingLocationProperties",
    "outOfOfficeProperties",
    "focusTimeProperties",
    "attachments",
    "birthdayProperties",
    "eventType",
    "eventLabelId",
)
_FIELD_RANK = {name: i for i, name in enumerate(EVENT_FIELDS)}

# Fields a client can never set directly through insert/patch/update.
SERVER_FIELDS = frozenset(
    {
        "kind",
        "etag",
        "id",
        "created",
        "updated",
        "htmlLink",
        "hangoutLink",
        "creator",
        "organizer",
        "iCalUID",
        "privateCopy",
        "attendeesOmitted",
        "recurringEventId",
        "originalStartTime",
        "conferenceData",
        "eventType",
        "sequence",
    }
)


def resolve_calendar(emu: Emulator, user: str, calendar_id: str) -> CalendarData:
    """``primary`` or the user's own email; anything else is 404 like a stranger's calendar."""
    owner = emu.users.get(user)
    if owner is None or calendar_id not in ("primary", user):
        raise calendar_error(404)
    return owner.calendar


def html_link(calendar_id: str, event_id: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def _parse_edt(value: Any, which: str) -> tuple[str, float]:
    """Validate one EventDateTime; answers its kind ('date'/'dateTime') and UTC timestamp."""
    if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
        raise calendar_error(400, "required", f"Missing {which} time.")
    if value.get("date") and value.get("dateTime"):
        raise calendar_error(400, "invalid", f"Invalid {which} time.")
    if value.get("date"):
        try:
            d = date.fromisoformat(str(value["date"]))
        except ValueError as exc:
            raise calendar_error(400, "invalid", f"Invalid {which} time.") from exc
        return "date", datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    text = str(value["dateTime"])
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise calendar_error(400, "invalid", f"Invalid {which} time.") from exc
    if dt.tzinfo is None:
        tz_name = value.get("timeZone")
        if not tz_name:
            raise calendar_error(400, "required", f"Missing time zone definition for {which} time.")
        try:
            dt = dt.replace(tzinfo=recurrence.zone(str(tz_name)))
        except recurrence.RecurrenceError as exc:
            raise calendar_error(
                400, "timeZoneInvalid", f"Invalid time zone definition for {which} time."
            ) from exc
    return "dateTime", dt.timestamp()


def validate_times(data: JSON) -> None:
    """400 for missing, mismatched, reversed times or an unusable recurrence."""
    skind, start = _parse_edt(data.get("start"), "start")
    ekind, end = _parse_edt(data.get("end"), "end")
    if skind != ekind:
        raise calendar_error(
            400, "invalid", "Start and end times must either both be date or both be dateTime."
        )
    if end < start:
        raise calendar_error(400, "timeRangeEmpty", "The specified time range is empty.")
    if data.get("recurrence"):
        if not isinstance(data["recurrence"], list):
            raise calendar_error(400, "invalid", "Invalid recurrence rule.")
        try:
            recurrence.validate(data)
        except (recurrence.RecurrenceError, KeyError, ValueError) as exc:
            raise calendar_error(400, "invalid", "Invalid recurrence rule.") from exc


def _times(ev: StoredEvent) -> tuple[float, float]:
    data = ev.data
    _, start = _parse_edt(data.get("start"), "start")
    _, end = _parse_edt(data.get("end"), "end")
    if data.get("recurrence"):
        last = None
        count = 0
        for count, occ in enumerate(recurrence.expand(data), start=1):  # noqa: B007
            last = occ
        if last is None:
            return start, end
        return start, (math.inf if count >= recurrence.MAX_INSTANCES else last.end_ts)
    return start, end


def ordered(data: JSON) -> JSON:
    """Fields in Google's usual order (cosmetic, but diffs read better)."""
    return dict(sorted(data.items(), key=lambda kv: _FIELD_RANK.get(kv[0], 999)))


def add_event(cal: CalendarData, data: JSON) -> StoredEvent:
    """Register a new event (not yet committed)."""
    ev = StoredEvent(data=data, ordinal=len(cal.order))
    cal.events[data["id"]] = ev
    cal.order.append(data["id"])
    master = data.get("recurringEventId")
    if master:
        cal.exceptions.setdefault(master, set()).add(data["id"])
    elif data.get("iCalUID"):
        cal.by_ical.setdefault(data["iCalUID"], data["id"])
    return ev


def commit(emu: Emulator, cal: CalendarData, ev: StoredEvent) -> None:
    """Make a write visible: etag, updated, history entry, push to live channels."""
    seq = emu.next_seq()
    now = emu.clock.now()
    ev.data["etag"] = f'"{int(now * 1000)}{seq:06d}"'
    ev.data["updated"] = rfc3339(now)
    ev.data = ordered(ev.data)
    ev.updated_ts = now
    ev.change_seq = seq
    ev.start_ts, ev.end_ts = _times(ev)
    ev.touch()
    cal.history_seqs.append(seq)
    cal.history_ids.append(ev.data["id"])
    cal.last_seq = seq
    cal.updated_ts = now
    emu.notify_channels(cal)


def parse_time_param(value: str | None, name: str) -> float | None:
    """An RFC 3339 query parameter (offset required) as a timestamp."""
    if value is None:
        return None
    dt = parse_rfc3339(value)
    if dt is None:
        raise calendar_error(
            400, "badRequest", "Bad Request", location_type="parameter", location=name
        )
    return dt.timestamp()
