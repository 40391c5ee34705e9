"""Expands RRULE/EXDATE/RDATE recurrences into instances with Calendar's ids.

An instance id is ``{eventId}_{YYYYMMDDTHHMMSSZ}`` (UTC original start) or, for
all-day events, ``{eventId}_{YYYYMMDD}``; the same id names the exception once an
instance is edited or cancelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

JSON = dict[str, Any]

MAX_INSTANCES = 1000
_INSTANCE_ID = re.compile(r"^(?P<master>[a-v0-9]+)_(?P<stamp>\d{8}(T\d{6}Z)?)$")


class RecurrenceError(ValueError):
    """The recurrence lines could not be understood."""


@dataclass(frozen=True)
class Occurrence:
    instance_id: str
    original_start: JSON
    start: JSON
    end: JSON
    start_ts: float
    end_ts: float


def parse_instance_id(event_id: str) -> tuple[str, str] | None:
    """Split an instance id into (master id, stamp), or None if it is not one."""
    m = _INSTANCE_ID.match(event_id)
    return (m.group("master"), m.group("stamp")) if m else None


def format_dt(dt: datetime) -> str:
    text = dt.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecurrenceError(f"unknown time zone {name}") from exc


def _ts(dt: datetime) -> float:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _parse_value(value: str, dtstart: datetime, params: dict[str, str]) -> datetime:
    """One EXDATE/RDATE value aligned with dtstart's awareness and zone."""
    value = value.strip()
    all_day = dtstart.tzinfo is None
    if len(value) == 8 or params.get("VALUE") == "DATE":
        d = datetime.strptime(value[:8], "%Y%m%d")
        if all_day:
            return d
        return datetime.combine(d.date(), dtstart.timetz())
    if value.endswith("Z"):
        dt = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    else:
        dt = datetime.strptime(value, "%Y%m%dT%H%M%S")
        if "TZID" in params:
            dt = dt.replace(tzinfo=zone(params["TZID"]))
        elif not all_day:
            dt = dt.replace(tzinfo=dtstart.tzinfo)
    if all_day:
        return dt.replace(tzinfo=None, hour=0, minute=0, second=0)
    return dt.astimezone(dtstart.tzinfo)


def _rule_line(line: str, aware: bool) -> str:
    """Make UNTIL agree with dtstart's awareness, as dateutil insists."""

    def fix(m: re.Match[str]) -> str:
        value = m.group(1)
        if aware and not value.endswith("Z"):
            value = (value if "T" in value else value + "T235959") + "Z"
        if not aware:
            value = value.rstrip("Z")
        return "UNTIL=" + value

    return re.sub(r"UNTIL=([0-9TZ]+)", fix, line)


def _dtstart(master: JSON) -> tuple[datetime, timedelta, str | None]:
    start, end = master.get("start") or {}, master.get("end") or {}
    if "date" in start:
        s = datetime.fromisoformat(start["date"])
        e = datetime.fromisoformat(end.get("date", start["date"]))
        return s, e - s, None
    tz_name = start.get("timeZone")
    s = datetime.fromisoformat(start["dateTime"])
    e = datetime.fromisoformat(end.get("dateTime", start["dateTime"]))
    if tz_name:
        tz = zone(tz_name)
        s = s.astimezone(tz) if s.tzinfo else s.replace(tzinfo=tz)
        e = e.astimezone(tz) if e.tzinfo else e.replace(tzinfo=tz)
    return s, e - s, tz_name


def _build(master: JSON, dtstart: datetime) -> rruleset:
    rset = rruleset()
    aware = dtstart.tzinfo is not None
    for raw in master.get("recurrence") or []:
        name, _, value = raw.partition(":")
        head, *param_parts = name.split(";")
        params = dict(p.split("=", 1) for p in param_parts if "=" in p)
        head = head.upper()
        try:
            if head == "RRULE":
                rset.rrule(rrulestr(_rule_line(raw, aware), dtstart=dtstart))  # type: ignore[arg-type]
            elif head == "EXRULE":
                rset.exrule(rrulestr(_rule_line(raw, aware), dtstart=dtstart))  # type: ignore[arg-type]
            elif head in ("EXDATE", "RDATE"):
                for item in value.split(","):
                    dt = _parse_value(item, dtstart, params)
                    (rset.exdate if head == "EXDATE" else rset.rdate)(dt)
            else:
                raise RecurrenceError(f"unsupported recurrence line {raw!r}")
        except (ValueError, TypeError) as exc:
            raise RecurrenceError(str(exc)) from exc
    return rset


def validate(master: JSON) -> None:
    """Raise RecurrenceError when the recurrence lines are unusable."""
    dtstart, _, _ = _dtstart(master)
    rset = _build(master, dtstart)
    try:
        next(iter(rset), None)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(str(exc)) from exc


def expand(master: JSON, until_ts: float | None = None) -> Iterator[Occurrence]:
    """Occurrences of ``master`` in time order, at most MAX_INSTANCES of them."""
    dtstart, duration, tz_name = _dtstart(master)
    all_day = dtstart.tzinfo is None
    for count, dt in enumerate(_build(master, dtstart)):
        if count >= MAX_INSTANCES:
            return
        start_ts = _ts(dt)
        if until_ts is not None and start_ts >= until_ts:
            return
        end_dt = dt + duration
        if all_day:
            start: JSON = {"date": dt.date().isoformat()}
            end: JSON = {"date": end_dt.date().isoformat()}
            stamp = dt.strftime("%Y%m%d")
        else:
            start = {"dateTime": format_dt(dt)}
            end = {"dateTime": format_dt(end_dt)}
            if tz_name:
                start["timeZone"] = tz_name
                end["timeZone"] = tz_name
            stamp = dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        yield Occurrence(
            instance_id=f"{master['id']}_{stamp}",
            original_start=dict(start),
            start=start,
            end=end,
            start_ts=start_ts,
            end_ts=_ts(end_dt),
        )


def find(master: JSON, stamp: str) -> Occurrence | None:
    """The occurrence whose instance id ends in ``stamp``, if the rule produces it."""
    target = f"{master['id']}_{stamp}"
    if "T" in stamp:
        until = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() + 1
    else:
        until = (
            _ts(
                datetime.combine(
                    date.fromisoformat(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"), datetime.min.time()
                )
            )
            + 86400 * 2
        )
    for occ in expand(master, until_ts=until):
        if occ.instance_id == target:
            return occ
    return None


def instance_resource(master: JSON, occ: Occurrence) -> JSON:
    """The virtual instance Calendar shows for an unmodified occurrence."""
    data = {k: v for k, v in master.items() if k != "recurrence"}
    data["id"] = occ.instance_id
    data["start"] = occ.start
    data["end"] = occ.end
    data["recurringEventId"] = master["id"]
    data["originalStartTime"] = occ.original_start
    return data
