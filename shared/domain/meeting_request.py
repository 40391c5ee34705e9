"""Parsing and validation of a create-meeting request, and the Calendar event it becomes.

Pure functions of the JSON body: every rejection is an `INVALID` refusal naming the
offending field, raised before any Google call is made. The parsed request is
normalised (lower-cased emails, attendee objects, defaults filled in) so that
two bodies meaning the same meeting hash the same, which is what makes an
`Idempotency-Key` replay with a cosmetically different body still match.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shared.domain import validate
from shared.domain.ids import sha256_hex
from shared.domain.refusals import invalid

Json = dict[str, Any]
Mode = Literal["calendar", "space", "instant"]

MODES: tuple[str, ...] = ("calendar", "space", "instant")
SPACE_SETTINGS: dict[str, tuple[str, ...]] = {
    "accessType": ("OPEN", "TRUSTED", "RESTRICTED"),
    "entryPointAccess": ("ALL", "CREATOR_APP_ONLY"),
    "moderation": ("ON", "OFF"),
}
SEND_UPDATES = ("all", "externalOnly", "none")
REMINDER_METHODS = ("email", "popup")
MAX_REMINDER_MINUTES = 40_320
"""Calendar's limit: four weeks."""
MAX_REMINDER_OVERRIDES = 5
MAX_RECURRENCE_LINES = 100
MAX_SUMMARY = 1024
MAX_DESCRIPTION = 8192
MAX_LOCATION = 1024

TOP_LEVEL_FIELDS = frozenset(
    {
        "organizer",
        "summary",
        "start",
        "end",
        "timeZone",
        "description",
        "location",
        "attendees",
        "recurrence",
        "reminders",
        "sendUpdates",
        "calendarId",
        "conference",
    }
)
EVENT_ONLY_FIELDS = (
    "start",
    "end",
    "timeZone",
    "description",
    "location",
    "attendees",
    "recurrence",
    "reminders",
    "sendUpdates",
    "calendarId",
)
"""Fields that only make sense with a Calendar event (refused for mode `instant`)."""

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RRULE = re.compile(
    r"^(RRULE|EXRULE):(?=(?:.*;)?FREQ=(?:SECONDLY|MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY)(?:;|$))"
    r"[A-Z]+=[A-Za-z0-9,:+-]+(?:;[A-Z]+=[A-Za-z0-9,:+-]+)*$"
)
_DATES = re.compile(
    r"^(EXDATE|RDATE)(?:;[A-Z-]+=[^:;]+)*:\d{8}(?:T\d{6}Z?)?(?:,\d{8}(?:T\d{6}Z?)?)*$"
)


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    optional: bool = False
    display_name: str = ""

    def to_event(self) -> Json:
        out: Json = {"email": self.email}
        if self.optional:
            out["optional"] = True
        if self.display_name:
            out["displayName"] = self.display_name
        return out


@dataclass(frozen=True, slots=True)
class MeetingRequest:
    """A validated, normalised create-meeting request."""

    organizer: str
    mode: Mode = "calendar"
    space_config: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    start: Json = field(default_factory=dict)
    """EventDateTime as Calendar takes it: `{"dateTime", "timeZone"?}` or `{"date"}`."""
    end: Json = field(default_factory=dict)
    description: str = ""
    location: str = ""
    attendees: tuple[Attendee, ...] = ()
    recurrence: tuple[str, ...] = ()
    reminders: Json | None = None
    send_updates: str = "none"
    calendar_id: str = "primary"

    def canonical(self) -> str:
        """Stable text of the whole request: equal meaning, equal text."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def body_hash(self) -> str:
        return sha256_hex(self.canonical())

    @property
    def has_event(self) -> bool:
        return self.mode != "instant"


def from_canonical(text: str) -> MeetingRequest:
    """The request `MeetingRequest.canonical()` wrote (kept on the record, so a completion
    job resumes the create as it was asked); same meaning, same `body_hash`."""
    data: Json = json.loads(text)
    data["attendees"] = tuple(Attendee(**a) for a in data.get("attendees", ()))
    data["recurrence"] = tuple(data.get("recurrence", ()))
    return MeetingRequest(**data)


# -- ids -----------------------------------------------------------------------------------------


# -- parsing -------------------------------------------------------------------------------------


def _string(body: Json, name: str, *, max_len: int, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required", name)
        return ""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string", name)
    if required and not value.strip():
        raise invalid(f"{name} must not be empty", name)
    if len(value) > max_len:
        raise invalid(f"{name} is longer than {max_len} characters", name)
    return value


def _time_zone(body: Json) -> str:
    value = body.get("timeZone")
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        raise invalid("timeZone must be an IANA time zone name", "timeZone")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid(f"timeZone {value!r} is not a known IANA time zone", "timeZone") from None
    return value


def _instant(value: Any, name: str) -> dt.datetime | dt.date:
    if not isinstance(value, str):
        raise invalid(
            f"{name} must be an RFC 3339 date-time with offset or a YYYY-MM-DD date", name
        )
    try:
        if _RFC3339.match(value):
            return dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} is not a valid date or time: {value!r}", name) from None
    raise invalid(f"{name} must be an RFC 3339 date-time with offset or a YYYY-MM-DD date", name)


def _times(body: Json, tz: str) -> tuple[Json, Json]:
    for name in ("start", "end"):
        if body.get(name) is None:
            raise invalid(f"{name} is required", name)
    start, end = _instant(body["start"], "start"), _instant(body["end"], "end")
    start_is_day = not isinstance(start, dt.datetime)
    if start_is_day != (not isinstance(end, dt.datetime)):
        raise invalid("start and end must both be date-times or both be dates", "end")
    if not end > start:
        raise invalid("end must be after start", "end")
    if start_is_day:
        return {"date": body["start"]}, {"date": body["end"]}
    start_edt: Json = {"dateTime": body["start"]}
    end_edt: Json = {"dateTime": body["end"]}
    if tz:
        start_edt["timeZone"] = tz
        end_edt["timeZone"] = tz
    return start_edt, end_edt


def _attendees(body: Json, max_attendees: int) -> tuple[Attendee, ...]:
    raw = body.get("attendees")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("attendees must be a list", "attendees")
    if len(raw) > max_attendees:
        raise invalid(f"at most {max_attendees} attendees are allowed", "attendees")
    seen: dict[str, Attendee] = {}
    for i, item in enumerate(raw):
        where = f"attendees[{i}]"
        if isinstance(item, str):
            attendee = Attendee(validate.email(item, where))
        elif isinstance(item, dict):
            unknown = sorted(set(item) - {"email", "optional", "displayName"})
            if unknown:
                raise invalid(f"unknown field {unknown[0]}", f"{where}.{unknown[0]}")
            optional = item.get("optional", False)
            if not isinstance(optional, bool):
                raise invalid("optional must be true or false", f"{where}.optional")
            name = item.get("displayName", "")
            if not isinstance(name, str) or len(name) > 256:
                raise invalid("displayName must be a short string", f"{where}.displayName")
            attendee = Attendee(validate.email(item.get("email"), f"{where}.email"), optional, name)
        else:
            raise invalid("an attendee is an email or an object with email", where)
        seen.setdefault(attendee.email, attendee)
    return tuple(seen.values())


def _recurrence(body: Json) -> tuple[str, ...]:
    raw = body.get("recurrence")
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_RECURRENCE_LINES:
        raise invalid(
            f"recurrence must be a list of at most {MAX_RECURRENCE_LINES} lines", "recurrence"
        )
    lines = []
    for i, line in enumerate(raw):
        if not isinstance(line, str) or not (_RRULE.match(line) or _DATES.match(line)):
            raise invalid(
                "each recurrence line must be an RRULE, EXRULE, EXDATE or RDATE line",
                f"recurrence[{i}]",
            )
        lines.append(line)
    if not any(line.startswith("RRULE:") or line.startswith("RDATE") for line in lines):
        raise invalid("recurrence needs an RRULE or RDATE line", "recurrence")
    return tuple(lines)


def _reminders(body: Json) -> Json | None:
    raw = body.get("reminders")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("reminders must be an object", "reminders")
    unknown = sorted(set(raw) - {"useDefault", "overrides"})
    if unknown:
        raise invalid(f"unknown field {unknown[0]}", f"reminders.{unknown[0]}")
    use_default = raw.get("useDefault", False)
    if not isinstance(use_default, bool):
        raise invalid("useDefault must be true or false", "reminders.useDefault")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or len(overrides) > MAX_REMINDER_OVERRIDES:
        raise invalid(
            f"overrides must be a list of at most {MAX_REMINDER_OVERRIDES}", "reminders.overrides"
        )
    if use_default and overrides:
        raise invalid(
            "reminders cannot use the default and overrides at once", "reminders.overrides"
        )
    out = []
    for i, item in enumerate(overrides):
        where = f"reminders.overrides[{i}]"
        if not isinstance(item, dict) or set(item) - {"method", "minutes"}:
            raise invalid("an override is {method, minutes}", where)
        if item.get("method") not in REMINDER_METHODS:
            raise invalid("method must be email or popup", f"{where}.method")
        minutes = item.get("minutes")
        if (
            not isinstance(minutes, int)
            or isinstance(minutes, bool)
            or not 0 <= minutes <= MAX_REMINDER_MINUTES
        ):
            raise invalid(
                f"minutes must be an integer from 0 to {MAX_REMINDER_MINUTES}", f"{where}.minutes"
            )
        out.append({"method": item["method"], "minutes": minutes})
    return {"useDefault": use_default, "overrides": out}


def _conference(body: Json) -> tuple[Mode, dict[str, str]]:
    raw = body.get("conference")
    if raw is None:
        return "calendar", {}
    if not isinstance(raw, dict):
        raise invalid("conference must be an object", "conference")
    unknown = sorted(set(raw) - {"mode", *SPACE_SETTINGS})
    if unknown:
        raise invalid(f"unknown field {unknown[0]}", f"conference.{unknown[0]}")
    mode = raw.get("mode", "calendar")
    if mode not in MODES:
        raise invalid("mode must be calendar, space or instant", "conference.mode")
    config: dict[str, str] = {}
    for name, allowed in SPACE_SETTINGS.items():
        if name not in raw:
            continue
        if raw[name] not in allowed:
            raise invalid(f"{name} must be one of {', '.join(allowed)}", f"conference.{name}")
        if mode == "calendar":
            raise invalid(
                f"{name} needs conference mode space or instant: a conference Calendar"
                " creates gets the organizer's default settings",
                f"conference.{name}",
            )
        config[name] = raw[name]
    return mode, config


def parse(body: Json, *, max_attendees: int) -> MeetingRequest:
    """The validated request, or an INVALID refusal naming the first bad field."""
    unknown = sorted(set(body) - TOP_LEVEL_FIELDS)
    if unknown:
        raise invalid(f"unknown field {unknown[0]}", unknown[0])
    if body.get("organizer") is None:
        raise invalid("organizer is required", "organizer")
    organizer = validate.email(body["organizer"], "organizer")
    mode, config = _conference(body)
    if mode == "instant":
        for name in EVENT_ONLY_FIELDS:
            if name in body:
                raise invalid(f"{name} is not used with conference mode instant", name)
        summary = _string(body, "summary", max_len=MAX_SUMMARY)
        return MeetingRequest(organizer=organizer, mode=mode, space_config=config, summary=summary)
    summary = _string(body, "summary", max_len=MAX_SUMMARY, required=True)
    tz = _time_zone(body)
    start, end = _times(body, tz)
    recurrence = _recurrence(body)
    if recurrence and "dateTime" in start and not tz:
        raise invalid("timeZone is required for a recurring event", "timeZone")
    send_updates = body.get("sendUpdates", "none")
    if send_updates not in SEND_UPDATES:
        raise invalid("sendUpdates must be all, externalOnly or none", "sendUpdates")
    calendar_id = validate.calendar_id(body.get("calendarId", "primary"))
    return MeetingRequest(
        organizer=organizer,
        mode=mode,
        space_config=config,
        summary=summary,
        start=start,
        end=end,
        description=_string(body, "description", max_len=MAX_DESCRIPTION),
        location=_string(body, "location", max_len=MAX_LOCATION),
        attendees=_attendees(body, max_attendees),
        recurrence=recurrence,
        reminders=_reminders(body),
        send_updates=send_updates,
        calendar_id=calendar_id,
    )


SETTINGS_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accessType": (("accessType",), SPACE_SETTINGS["accessType"]),
    "entryPointAccess": (("entryPointAccess",), SPACE_SETTINGS["entryPointAccess"]),
    "moderation": (("moderation",), SPACE_SETTINGS["moderation"]),
    "autoRecording": (
        ("artifactConfig", "recordingConfig", "autoRecordingGeneration"),
        ("ON", "OFF"),
    ),
    "autoTranscription": (
        ("artifactConfig", "transcriptionConfig", "autoTranscriptionGeneration"),
        ("ON", "OFF"),
    ),
}
"""The settings `PATCH /meetings/{id}` changes: body name → (path in the Meet space's
`config`, allowed values)."""


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """A validated settings change: the space `config` to send and its exact update mask."""

    config: dict[str, Any]
    update_mask: tuple[str, ...]
    given: dict[str, str]


def parse_settings(body: Json) -> SettingsChange:
    """`{"conference": {accessType, entryPointAccess, moderation, autoRecording,
    autoTranscription}}` (any non-empty subset), or an INVALID refusal naming the field."""
    unknown = sorted(set(body) - {"conference"})
    if unknown:
        raise invalid(f"unknown field {unknown[0]}", unknown[0])
    raw = body.get("conference")
    if not isinstance(raw, dict) or not raw:
        raise invalid("conference must be an object with at least one setting", "conference")
    unknown = sorted(set(raw) - set(SETTINGS_FIELDS))
    if unknown:
        raise invalid(f"unknown field {unknown[0]}", f"conference.{unknown[0]}")
    config: dict[str, Any] = {}
    mask: list[str] = []
    for name, (path, allowed) in SETTINGS_FIELDS.items():
        if name not in raw:
            continue
        if raw[name] not in allowed:
            raise invalid(f"{name} must be one of {', '.join(allowed)}", f"conference.{name}")
        node = config
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = raw[name]
        mask.append("config." + ".".join(path))
    return SettingsChange(config, tuple(mask), {k: str(v) for k, v in raw.items()})


def settings_of(config: Json) -> dict[str, str | None]:
    """A Meet space's `config` as the settings `PATCH /meetings/{id}` names them."""
    out: dict[str, str | None] = {}
    for name, (path, _) in SETTINGS_FIELDS.items():
        node: Any = config
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        out[name] = node if isinstance(node, str) else None
    return out
