"""Adapter: an iCalendar file (RFC 5545) turned into the `ImportItem`s Calendar takes.

Parsing is pure: the whole file is checked before any Calendar call, and a malformed
file is refused (`Refusal`, kind INVALID, field `body`) with the line and component at
fault, so the caller can fix it and send it again.

Time zones are strict: a time is never moved silently. A DATE-TIME's TZID is resolved
as RFC 5545 has it, for each file on its own:

1. the file's own VTIMEZONE with that TZID, even when the TZID is also an IANA name (the
   file says what its times mean); its rules are read by icalendar (dateutil `tzical`);
2. otherwise an IANA name (`Europe/Berlin`);
3. otherwise a Windows zone name (`W. Europe Standard Time`), mapped to IANA through the
   CLDR windowsZones table icalendar ships (`icalendar.timezone.windows_to_olson`), so
   the table is updated with icalendar instead of by hand here;
4. otherwise only that event fails (`ImportItem.error` names the TZID) and the rest of the
   file imports. (Unknown TZIDs used to be read as floating, that is as UTC.)

icalendar's own resolution is not used for this: it prefers an IANA zone to the file's
VTIMEZONE of the same name, and it caches VTIMEZONEs process-wide, so a TZID that one
file defines would resolve in the next file, which only names it.

Calendar receives unambiguous times: `dateTime` with the offset the zone has at that
instant and, as `timeZone`, an IANA name with the same offsets. For a VTIMEZONE that name
is the first IANA zone (the TZID itself, its Windows mapping, X-LIC-LOCATION, then every
`Area/City` zone by name, `Etc/` last) whose offsets agree with the VTIMEZONE's through
the two calendar years from the event's year (weekly, and to the minute around each of
the VTIMEZONE's transitions). A single event whose VTIMEZONE has no IANA equivalent is
sent with its offset and no `timeZone`. A recurring one fails alone: Calendar expands an
RRULE in its `timeZone`, and any zone with other rules would move some occurrences (UTC
shifts them by the DST difference, or across midnight for BYDAY rules); failing names the
zone and moves nothing. EXDATE/RDATE date-times whose TZID is not itself that IANA name
are rewritten as UTC instants, which Calendar matches exactly.

Each VEVENT is keyed by its UID; an exception of a recurring event (RECURRENCE-ID) is
stamped with its original start in UTC (`YYYYMMDDTHHMMSSZ`, or `YYYYMMDD` all day), the
suffix of the instance id Calendar gives that occurrence.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

import icalendar
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from shared.domain.imports import MAX_EVENTS, ImportItem
from shared.domain.ports import Json
from shared.domain.refusals import Refusal, invalid

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
_UTC_NAMES = ("UTC", "Etc/UTC")
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Keys zoneinfo lists that are no place: the host's own zone and tzdata internals."""
_PROBE_STEP = dt.timedelta(weeks=1)
_PROBE_YEARS = 2


def _malformed(message: str, line: int | None = None) -> Refusal:
    """The whole file is refused; the message says where, for the sender to fix it."""
    return invalid(f"line {line}: {message}" if line else message, "body")


class _EventError(Exception):
    """One VEVENT cannot be imported faithfully; it fails alone, the file still imports."""


# -- time zones ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Zone:
    tzid: str
    tz: dt.tzinfo
    iana: str
    """An IANA name with the same offsets (Calendar's `timeZone`); empty when there is none."""


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def _iana(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone of that exact name, checked against the list (not a file path)."""
    return zoneinfo.ZoneInfo(name) if name in _iana_names() else None


@functools.cache
def _scan_order() -> tuple[str, ...]:
    """Every `Area/City` zone by name, `Etc/` fixed offsets last: the names people read."""
    names = sorted(n for n in _iana_names() if "/" in n)
    return tuple(sorted(names, key=lambda n: n.startswith("Etc/")))


def _offset(when: dt.datetime, tz: dt.tzinfo) -> dt.timedelta | None:
    return when.astimezone(tz).utcoffset()


def _probes(tz: dt.tzinfo, year: int) -> list[tuple[dt.datetime, dt.timedelta | None]]:
    """Instants and `tz`'s offsets there: weekly through `_PROBE_YEARS` calendar years, and
    the minute either side of each transition (found by bisection)."""
    year = min(max(year, 2), dt.MAXYEAR - _PROBE_YEARS)
    when = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + _PROBE_YEARS, 1, 1, tzinfo=dt.UTC)
    current = _offset(when, tz)
    probes = [(when, current)]
    while when < end:
        step = min(when + _PROBE_STEP, end)
        offset = _offset(step, tz)
        if offset != current:
            low, high = 0, int((step - when).total_seconds()) // 60
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(when + dt.timedelta(minutes=middle), tz) == current:
                    low = middle
                else:
                    high = middle
            probes.append((when + dt.timedelta(minutes=low), current))
            probes.append((when + dt.timedelta(minutes=high), offset))
        probes.append((step, offset))
        when, current = step, offset
    return probes


def _equivalent(tz: dt.tzinfo, named: list[str], year: int) -> str:
    """The first IANA zone, `named` ones first, whose offsets agree with `tz` at every probe."""
    probes = _probes(tz, year)
    for name in dict.fromkeys([*named, *_scan_order()]):
        zone = zoneinfo.ZoneInfo(name)
        if all(_offset(when, zone) == offset for when, offset in probes):
            return name
    return ""


class _Zones:
    """A file's TZIDs resolved to zones, built per file so that no definition outlives it."""

    def __init__(self, calendar: Any) -> None:
        self._defined: dict[str, Any] = {}
        for vtimezone in calendar.walk("VTIMEZONE"):
            self._defined.setdefault(str(vtimezone.get("TZID", "")), vtimezone)
        self._rules: dict[str, dt.tzinfo] = {}
        self._zones: dict[tuple[str, int], _Zone] = {}

    def get(self, tzid: str, year: int) -> _Zone:
        """The zone a TZID names for times in `year` (the IANA equivalent may vary by year)."""
        key = (tzid, year)
        if key not in self._zones:
            self._zones[key] = self._resolve(tzid, year)
        return self._zones[key]

    def _resolve(self, tzid: str, year: int) -> _Zone:
        vtimezone = self._defined.get(tzid)
        if vtimezone is not None:
            tz = self._built(tzid, vtimezone)
            location = str(vtimezone.get("X-LIC-LOCATION", ""))
            named = [n for n in (tzid, WINDOWS_TO_OLSON.get(tzid, ""), location) if _iana(n)]
            return _Zone(tzid, tz, _equivalent(tz, named, year))
        zone = _iana(tzid)
        if zone is not None:
            return _Zone(tzid, zone, tzid)
        olson = WINDOWS_TO_OLSON.get(tzid, "")
        zone = _iana(olson)
        if zone is not None:
            return _Zone(tzid, zone, olson)
        raise _EventError(
            f"unknown time zone {tzid!r}: no VTIMEZONE in the file defines this TZID, and it"
            " is neither an IANA nor a Windows time zone name"
        )

    def _built(self, tzid: str, vtimezone: Any) -> dt.tzinfo:
        if tzid not in self._rules:
            try:
                tz = tzp.create_timezone(vtimezone)
                _offset(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), tz)  # fails here if unusable
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise _EventError(f"the VTIMEZONE {tzid!r} cannot be read: {exc}") from None
            self._rules[tzid] = tz
        return self._rules[tzid]


def _default_zone(calendar: Any) -> str:
    """Floating times are in X-WR-TIMEZONE (IANA or Windows name) when it is known, else UTC."""
    name = str(calendar.get("X-WR-TIMEZONE", "") or "")
    if _iana(name):
        return name
    olson = WINDOWS_TO_OLSON.get(name, "")
    return olson if _iana(olson) else "UTC"


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
            raise _malformed(f"not an iCalendar content line{where}: {line[:60]!r}", number)
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].upper()
        if name == "BEGIN":
            if not stack and value.upper() != "VCALENDAR":
                raise _malformed("the file must start with BEGIN:VCALENDAR", number)
            stack.append((value.upper(), number))
            if value.upper() == "VEVENT":
                vevents.append(number)
        elif name == "END":
            if not stack or stack[-1][0] != value.upper():
                open_ = f"{stack[-1][0]} opened at line {stack[-1][1]}" if stack else "nothing"
                raise _malformed(f"END:{value} does not close {open_}", number)
            stack.pop()
        elif not stack:
            raise _malformed("content outside BEGIN:VCALENDAR", number)
    if stack:
        raise _malformed(f"{stack[-1][0]} is never closed", stack[-1][1])
    return vevents


def _when(component: Any, name: str, zones: _Zones) -> tuple[Any, _Zone | None]:
    """A DATE or DATE-TIME property, its TZID resolved by this file's rules (not icalendar's:
    only the wall-clock time it decoded is kept). Floating times stay naive."""
    value = component.decoded(name)
    prop = component[name]
    tzid = str(prop.params.get("TZID", "")) if hasattr(prop, "params") else ""
    if not isinstance(value, dt.datetime) or not tzid or prop.to_ical().endswith(b"Z"):
        return value, None
    wall = value.replace(tzinfo=None)
    try:
        zone = zones.get(tzid, wall.year)
    except _EventError as exc:
        raise _EventError(f"{name}: {exc}") from None
    return wall.replace(tzinfo=zone.tz), zone


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _edt(value: Any, zone: _Zone | None, default_tz: str, *, recurring: bool) -> Json:
    """An EventDateTime for a decoded DATE or DATE-TIME: a date, a floating time in the
    calendar's zone, a UTC instant, or a time with its offset and an IANA `timeZone`."""
    if not isinstance(value, dt.datetime):
        return {"date": value.isoformat()}
    if value.tzinfo is None:  # floating time: the calendar's zone
        return {"dateTime": value.isoformat(), "timeZone": default_tz}
    name = zone.iana if zone else "UTC"  # without a TZID, an aware time was written in UTC
    if name and value.replace(tzinfo=zoneinfo.ZoneInfo(name)).utcoffset() != value.utcoffset():
        name = ""  # an equivalent found by probing that reads this wall-clock time otherwise
    if name in _UTC_NAMES and value.utcoffset() == dt.timedelta(0):
        out: Json = {"dateTime": value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if recurring:
            out["timeZone"] = "UTC"
        return out
    out = {"dateTime": value.isoformat()}
    if name:
        out["timeZone"] = name
    return out


def _instance_stamp(value: Any, default_tz: str) -> str:
    """Calendar's instance-id suffix for an original start."""
    if not isinstance(value, dt.datetime):
        return str(value.strftime("%Y%m%d"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(default_tz))
    return _utc(value)


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


def _dates_in_utc(name: str, value: Any, zones: _Zones) -> str:
    """An EXDATE/RDATE line whose TZID Calendar would not read as the file means it,
    rewritten as UTC instants; empty to keep the line as written (no TZID, an IANA TZID
    that means what IANA says, or DATE and PERIOD values, which carry no instant here)."""
    tzid = str(value.params.get("TZID", "")) if hasattr(value, "params") else ""
    if not tzid or not hasattr(value, "dts"):
        return ""
    walls = [entry.dt for entry in value.dts]
    if not all(isinstance(wall, dt.datetime) for wall in walls):
        return ""
    instants = []
    as_written = True
    for wall in walls:
        naive = wall.replace(tzinfo=None)
        try:
            zone = zones.get(tzid, naive.year)
        except _EventError as exc:
            raise _EventError(f"{name}: {exc}") from None
        as_written = as_written and zone.iana == tzid
        instants.append(_utc(naive.replace(tzinfo=zone.tz)))
    return "" if as_written else f"{name}:{','.join(instants)}"


def _recurrence(component: Any, zones: _Zones) -> list[str]:
    lines = []
    for name in _RECURRENCE_PROPS:
        for value in _as_list(component.get(name)):
            rewritten = _dates_in_utc(name, value, zones) if name in ("RDATE", "EXDATE") else ""
            lines.append(rewritten or str(component.content_line(name, value)))
    return lines


def _ordered(start: Any, end: Any, default_tz: str) -> bool:
    """Whether end is not before start, floating times read in the calendar's zone."""
    if isinstance(start, dt.datetime) and (start.tzinfo is None) != (end.tzinfo is None):
        zone = zoneinfo.ZoneInfo(default_tz)
        start, end = (v if v.tzinfo else v.replace(tzinfo=zone) for v in (start, end))
    return bool(end >= start)


def _item(component: Any, line: int, zones: _Zones, default_tz: str) -> ImportItem:
    errors = getattr(component, "errors", [])
    if errors:
        prop, message = errors[0]
        raise _malformed(f"VEVENT property {prop or '?'}: {message}", line)
    uid = str(component.get("UID", "")).strip()
    if not uid:
        raise _malformed("VEVENT has no UID", line)
    where = f"VEVENT {uid!r}"
    if component.get("DTSTART") is None:
        raise _malformed(f"{where} has no DTSTART", line)
    try:
        return _event(component, uid, line, zones, default_tz)
    except _EventError as exc:
        recurrence_id = component.get("RECURRENCE-ID")
        return ImportItem(
            uid=uid,
            line=line,
            body={},
            recurrence_id=recurrence_id.to_ical().decode() if recurrence_id is not None else "",
            error=f"line {line}: {where}: {exc}",
        )


def _event(component: Any, uid: str, line: int, zones: _Zones, default_tz: str) -> ImportItem:
    """The ImportItem of a VEVENT; `_malformed` refuses the file, `_EventError` this event."""
    where = f"VEVENT {uid!r}"
    try:
        start, start_zone = _when(component, "DTSTART", zones)
        end_zone = start_zone
        if component.get("DTEND") is not None:
            end, end_zone = _when(component, "DTEND", zones)
        elif component.get("DURATION") is not None:
            end = start + component.decoded("DURATION")
        else:
            end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
        recurrence_id, recurrence_zone = (
            _when(component, "RECURRENCE-ID", zones)
            if component.get("RECURRENCE-ID")
            else (None, None)
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise _malformed(f"{where}: {exc}", line) from None
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        raise _malformed(f"{where}: DTSTART and DTEND must be the same kind", line)
    if not _ordered(start, end, default_tz):
        raise _malformed(f"{where}: DTEND is before DTSTART", line)
    recurrence = [] if recurrence_id is not None else _recurrence(component, zones)
    recurring = bool(recurrence)
    body: Json = {
        "iCalUID": uid,
        "summary": str(component.get("SUMMARY", "")),
        "start": _edt(start, start_zone, default_tz, recurring=recurring),
        "end": _edt(end, end_zone, default_tz, recurring=recurring),
    }
    for edge, zone in (("start", start_zone), ("end", end_zone)):
        if recurring and zone is not None and "timeZone" not in body[edge]:
            raise _EventError(
                f"the time zone {zone.tzid!r} defined in the file follows no IANA time zone's"
                f" rules around {start.year}, and Calendar repeats events only in IANA time"
                " zones: in any other zone some occurrences would move"
            )
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
        return ImportItem(
            uid=uid,
            line=line,
            body=body,
            recurrence_id=_instance_stamp(recurrence_id, default_tz),
            original_start=_edt(recurrence_id, recurrence_zone, default_tz, recurring=True),
        )
    if component.get("ORGANIZER") is not None:
        body["organizer"] = _person(component["ORGANIZER"])
    if component.get("SEQUENCE") is not None:
        try:
            body["sequence"] = int(str(component["SEQUENCE"]))
        except ValueError:
            raise _malformed(f"{where}: SEQUENCE is not a number", line) from None
    if recurrence:
        body["recurrence"] = recurrence
    return ImportItem(uid=uid, line=line, body=body)


def parse_ics(raw: bytes) -> list[ImportItem]:
    """Every VEVENT of the file, in file order; a Refusal (INVALID, field `body`) says where
    a malformed file is wrong. Events that cannot be imported faithfully carry `error`."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _malformed(f"the file is not UTF-8 (byte {exc.start})") from None
    lines = _unfold(text)
    if not lines:
        raise _malformed("the file is empty")
    vevent_lines = _structure(lines)
    if not vevent_lines:
        raise _malformed("the calendar has no VEVENT")
    if len(vevent_lines) > MAX_EVENTS:
        raise _malformed(f"at most {MAX_EVENTS} events per import")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise _malformed(str(exc)) from None
    default_tz = _default_zone(calendar)
    zones = _Zones(calendar)
    components = list(calendar.walk("VEVENT"))
    items = [
        _item(c, line, zones, default_tz) for c, line in zip(components, vevent_lines, strict=True)
    ]
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item.uid, item.recurrence_id)
        if key in seen:
            what = f" RECURRENCE-ID {item.recurrence_id}" if item.recurrence_id else ""
            raise _malformed(f"VEVENT {item.uid!r}{what} appears twice", item.line)
        seen.add(key)
    return items
