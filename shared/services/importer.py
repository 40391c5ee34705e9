"""Import an iCalendar file into a user's calendar, idempotently.

Parsing is pure (`parse_ics`): the whole file is checked before any Calendar
call, and a malformed file is refused with the line and component at fault.
Each VEVENT is imported through `events.import` keyed by its UID (`iCalUID`),
so importing the same file again updates the events instead of duplicating them.

Exceptions of a recurring event (VEVENTs with RECURRENCE-ID) are written onto
the instance they replace: the instance id is `{masterEventId}_{originalStart}`
(UTC `YYYYMMDDTHHMMSSZ`, or `YYYYMMDD` for all-day events), read with
events.get and patched with its etag. That is Calendar's own model of an
exception (an instance with `recurringEventId` and `originalStartTime`), it
works the same on a re-import (the stored exception is updated), and it never
creates a second event with the master's iCalUID.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import icalendar

from shared import logs
from shared.domain.models import UserStatus
from shared.domain.ports import Json, MeetingStore
from shared.domain.errors import ApiError, AuthRevokedError, NotFoundError, PreconditionFailedError
from shared.services.meetings import ReauthorizationRequired, UnknownOrganizer

_log = logs.get(__name__)

MAX_EVENTS = 500
"""Events per request: each costs two or three Calendar calls within one function run."""

_CONTENT_LINE = re.compile(
    r'^[A-Za-z0-9-]+(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*:'
)
_STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
_PARTSTAT = {
    "NEEDS-ACTION": "needsAction",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}
_RECURRENCE_PROPS = ("RRULE", "EXRULE", "RDATE", "EXDATE")


class ImportCalendar(Protocol):
    """The Calendar calls an import makes (a slice of `CalendarPort`)."""

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]: ...

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json: ...

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...


class MalformedCalendar(ValueError):
    """The file cannot be imported; the message says where."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(where + message)
        self.line = line


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One VEVENT turned into what Calendar takes."""

    uid: str
    line: int
    body: Json
    recurrence_id: str = ""
    """Instance stamp of an exception (`20250113T090000Z` / `20250113`); empty for a master."""
    original_start: Json = field(default_factory=dict)


# -- parsing -------------------------------------------------------------------------------------


def _unfold(text: str) -> list[tuple[int, str]]:
    """Content lines with the number of the physical line each starts on."""
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and lines:
            start, value = lines[-1]
            lines[-1] = (start, value + raw[1:])
        elif raw.strip():
            lines.append((number, raw))
    return lines


def _structure(lines: list[tuple[int, str]]) -> list[int]:
    """Check the content-line syntax and BEGIN/END nesting; answer each VEVENT's line."""
    stack: list[tuple[str, int]] = []
    vevents: list[int] = []
    for number, line in lines:
        if not _CONTENT_LINE.match(line):
            where = f" in {stack[-1][0]}" if stack else ""
            raise MalformedCalendar(
                f"not an iCalendar content line{where}: {line[:60]!r}", line=number
            )
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].upper()
        if name == "BEGIN":
            if not stack and value.upper() != "VCALENDAR":
                raise MalformedCalendar("the file must start with BEGIN:VCALENDAR", line=number)
            stack.append((value.upper(), number))
            if value.upper() == "VEVENT":
                vevents.append(number)
        elif name == "END":
            if not stack or stack[-1][0] != value.upper():
                open_ = f"{stack[-1][0]} opened at line {stack[-1][1]}" if stack else "nothing"
                raise MalformedCalendar(f"END:{value} does not close {open_}", line=number)
            stack.pop()
        elif not stack:
            raise MalformedCalendar("content outside BEGIN:VCALENDAR", line=number)
    if stack:
        raise MalformedCalendar(f"{stack[-1][0]} is never closed", line=stack[-1][1])
    return vevents


def _zone_name(value: dt.datetime, tzid: str) -> str:
    key = getattr(value.tzinfo, "key", None)
    if isinstance(key, str):
        return key
    for candidate in (tzid, str(value.tzinfo)):
        try:
            zoneinfo.ZoneInfo(candidate)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            continue
        return candidate
    return ""


def _edt(value: Any, tzid: str, default_tz: str, *, recurring: bool) -> Json:
    """An EventDateTime for a decoded DATE or DATE-TIME."""
    if not isinstance(value, dt.datetime):
        return {"date": value.isoformat()}
    if value.tzinfo is None:  # floating time: the calendar's zone
        return {"dateTime": value.isoformat(), "timeZone": default_tz}
    name = _zone_name(value, tzid)
    if value.utcoffset() == dt.timedelta(0) and name in ("", "UTC", "Etc/UTC"):
        out: Json = {"dateTime": value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if recurring:
            out["timeZone"] = "UTC"
        return out
    out = {"dateTime": value.isoformat()}
    if name:
        out["timeZone"] = name
    return out


def instance_stamp(value: Any, default_tz: str) -> str:
    """Calendar's instance-id suffix for an original start."""
    if not isinstance(value, dt.datetime):
        return str(value.strftime("%Y%m%d"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(default_tz))
    return str(value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))


def _person(prop: Any) -> Json:
    email = str(prop).split(":", 1)[-1].strip().lower() if ":" in str(prop) else str(prop).lower()
    out: Json = {"email": email}
    name = prop.params.get("CN") if hasattr(prop, "params") else None
    if name:
        out["displayName"] = str(name)
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _attendees(component: Any) -> list[Json]:
    out = []
    for prop in _as_list(component.get("ATTENDEE")):
        attendee = _person(prop)
        params = getattr(prop, "params", {})
        if str(params.get("ROLE", "")).upper() == "OPT-PARTICIPANT":
            attendee["optional"] = True
        status = _PARTSTAT.get(str(params.get("PARTSTAT", "")).upper())
        if status:
            attendee["responseStatus"] = status
        out.append(attendee)
    return out


def _recurrence(component: Any) -> list[str]:
    lines = []
    for name in _RECURRENCE_PROPS:
        for value in _as_list(component.get(name)):
            lines.append(str(component.content_line(name, value)))
    return lines


def _item(component: Any, line: int, default_tz: str) -> ImportItem:
    errors = getattr(component, "errors", [])
    if errors:
        prop, message = errors[0]
        raise MalformedCalendar(f"VEVENT property {prop or '?'}: {message}", line=line)
    uid = str(component.get("UID", "")).strip()
    if not uid:
        raise MalformedCalendar("VEVENT has no UID", line=line)
    where = f"VEVENT {uid!r}"
    if component.get("DTSTART") is None:
        raise MalformedCalendar(f"{where} has no DTSTART", line=line)
    try:
        start = component.decoded("DTSTART")
        if component.get("DTEND") is not None:
            end = component.decoded("DTEND")
        elif component.get("DURATION") is not None:
            end = start + component.decoded("DURATION")
        else:
            end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
        recurrence_id = (
            component.decoded("RECURRENCE-ID") if component.get("RECURRENCE-ID") else None
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedCalendar(f"{where}: {exc}", line=line) from None
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        raise MalformedCalendar(f"{where}: DTSTART and DTEND must be the same kind", line=line)
    if end < start:
        raise MalformedCalendar(f"{where}: DTEND is before DTSTART", line=line)
    tzid = str(component["DTSTART"].params.get("TZID", ""))
    recurrence = [] if recurrence_id is not None else _recurrence(component)
    recurring = bool(recurrence)
    body: Json = {
        "iCalUID": uid,
        "summary": str(component.get("SUMMARY", "")),
        "start": _edt(start, tzid, default_tz, recurring=recurring),
        "end": _edt(end, tzid, default_tz, recurring=recurring),
    }
    for prop, key in (("DESCRIPTION", "description"), ("LOCATION", "location")):
        if component.get(prop) is not None:
            body[key] = str(component[prop])
    status = _STATUSES.get(str(component.get("STATUS", "")).upper())
    if status:
        body["status"] = status
    if str(component.get("TRANSP", "")).upper() == "TRANSPARENT":
        body["transparency"] = "transparent"
    attendees = _attendees(component)
    if attendees:
        body["attendees"] = attendees
    if recurrence_id is not None:
        original = _edt(recurrence_id, tzid, default_tz, recurring=True)
        return ImportItem(
            uid=uid,
            line=line,
            body=body,
            recurrence_id=instance_stamp(recurrence_id, default_tz),
            original_start=original,
        )
    if component.get("ORGANIZER") is not None:
        body["organizer"] = _person(component["ORGANIZER"])
    if component.get("SEQUENCE") is not None:
        try:
            body["sequence"] = int(str(component["SEQUENCE"]))
        except ValueError:
            raise MalformedCalendar(f"{where}: SEQUENCE is not a number", line=line) from None
    if recurrence:
        body["recurrence"] = recurrence
    return ImportItem(uid=uid, line=line, body=body)


def parse_ics(data: bytes) -> list[ImportItem]:
    """Every VEVENT of the file, or MalformedCalendar saying where the file is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedCalendar(f"the file is not UTF-8 (byte {exc.start})") from None
    lines = _unfold(text)
    if not lines:
        raise MalformedCalendar("the file is empty")
    vevent_lines = _structure(lines)
    if not vevent_lines:
        raise MalformedCalendar("the calendar has no VEVENT")
    if len(vevent_lines) > MAX_EVENTS:
        raise MalformedCalendar(f"at most {MAX_EVENTS} events per import")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise MalformedCalendar(str(exc)) from None
    default_tz = str(calendar.get("X-WR-TIMEZONE", "") or "UTC")
    try:
        zoneinfo.ZoneInfo(default_tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        default_tz = "UTC"
    components = list(calendar.walk("VEVENT"))
    items = [_item(c, line, default_tz) for c, line in zip(components, vevent_lines, strict=True)]
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item.uid, item.recurrence_id)
        if key in seen:
            what = f" RECURRENCE-ID {item.recurrence_id}" if item.recurrence_id else ""
            raise MalformedCalendar(f"VEVENT {item.uid!r}{what} appears twice", line=item.line)
        seen.add(key)
    return items


# -- importing ---------------------------------------------------------------------------------


class Importer:
    """Runs the imports for one user and calendar; one result per VEVENT."""

    def __init__(self, *, calendar: ImportCalendar, store: MeetingStore) -> None:
        self._calendar = calendar
        self._store = store

    def run(self, user: str, calendar_id: str, items: Iterable[ImportItem]) -> list[Json]:
        user = user.lower()
        self._check_user(user)
        ordered = sorted(items, key=lambda i: bool(i.recurrence_id))  # masters first (stable)
        masters: dict[str, tuple[str, str]] = {}
        results: list[Json] = []
        for item in ordered:
            try:
                if item.recurrence_id:
                    result = self._exception(user, calendar_id, item, masters)
                else:
                    result = self._master(user, calendar_id, item)
                    masters[item.uid] = (result["eventId"], result["status"])
            except AuthRevokedError:
                self._store.set_user_status(user, UserStatus.AUTH_REVOKED)
                raise
            except ApiError as exc:
                _log.warning(
                    "import of one event failed", extra={"uid": item.uid, "error": str(exc)}
                )
                result = {"uid": item.uid, "status": "failed", "eventId": None, "error": str(exc)}
                if item.recurrence_id:
                    result["recurrenceId"] = item.recurrence_id
            results.append(result)
        counts: dict[str, int] = {}
        for r in results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        _log.info("import finished", extra={"calendar": calendar_id, **counts})
        return results

    def _check_user(self, email: str) -> None:
        record = self._store.get_user(email)
        if record is None:
            raise UnknownOrganizer(f"{email} is not a user of this product")
        if record.status == UserStatus.AUTH_REVOKED:
            raise ReauthorizationRequired(
                f"authorization of {email} was revoked: the user must re-authorize"
            )

    def _master(self, user: str, calendar_id: str, item: ImportItem) -> Json:
        existing = [
            e
            for e in self._calendar.list_by_ical_uid(user, calendar_id, item.uid)
            if not e.get("recurringEventId")
        ]
        event = self._calendar.import_event(user, calendar_id, dict(item.body))
        return {
            "uid": item.uid,
            "status": "updated" if existing else "imported",
            "eventId": event["id"],
        }

    def _exception(
        self, user: str, calendar_id: str, item: ImportItem, masters: dict[str, tuple[str, str]]
    ) -> Json:
        result: Json = {"uid": item.uid, "recurrenceId": item.recurrence_id}
        master = masters.get(item.uid)
        if master is None:  # the master was imported earlier, by another file
            found = [
                e
                for e in self._calendar.list_by_ical_uid(user, calendar_id, item.uid)
                if not e.get("recurringEventId") and e.get("recurrence")
            ]
            if not found:
                return {
                    **result,
                    "status": "failed",
                    "eventId": None,
                    "error": "no recurring event with this UID to attach the exception to",
                }
            master = (str(found[0]["id"]), "updated")
        instance_id = f"{master[0]}_{item.recurrence_id}"
        patch = {k: v for k, v in item.body.items() if k != "iCalUID"}
        for attempt in (1, 2):
            try:
                current = self._calendar.get_event(user, calendar_id, instance_id)
                event = self._calendar.patch_event(
                    user, calendar_id, instance_id, patch, etag=str(current.get("etag", ""))
                )
                break
            except NotFoundError:
                return {
                    **result,
                    "status": "failed",
                    "eventId": None,
                    "error": f"RECURRENCE-ID {item.recurrence_id} is not an occurrence of the"
                    " recurring event",
                }
            except PreconditionFailedError:
                if attempt == 2:
                    raise
        return {**result, "status": master[1], "eventId": event["id"]}
