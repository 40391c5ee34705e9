"""Parsing and validation of a create-meeting request, and the Calendar event it becomes.

Pure functions of the JSON body: every rejection is an `InvalidRequest` naming the
offending field, raised before any Google call is made. The parsed request is
normalised (lower-cased emails, attendee objects, defaults filled in) so that
two bodies meaning the same meeting hash the same, which is what makes an
`Idempotency-Key` replay with a cosmetically different body still match.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import zoneinfo
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shared.domain.conference import OWNED_PROPERTY, SPACE_PROPERTY

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
MAX_IDEMPOTENCY_KEY = 255
MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)

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

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RRULE = re.compile(
    r"^(RRULE|EXRULE):(?=(?:.*;)?FREQ=(?:SECONDLY|MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY)(?:;|$))"
    r"[A-Z]+=[A-Za-z0-9,:+-]+(?:;[A-Z]+=[A-Za-z0-9,:+-]+)*$"
)
_DATES = re.compile(
    r"^(EXDATE|RDATE)(?:;[A-Z-]+=[^:;]+)*:\d{8}(?:T\d{6}Z?)?(?:,\d{8}(?:T\d{6}Z?)?)*$"
)
_CALENDAR_ID = re.compile(r"^[^\s/]{1,255}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class InvalidRequest(ValueError):
    """The request is refused before any Google call; `field` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


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
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def has_event(self) -> bool:
        return self.mode != "instant"


# -- ids -----------------------------------------------------------------------------------------


def _base32hex(data: bytes) -> str:
    return base64.b32hexencode(data).decode().rstrip("=").lower()


def meeting_id(organizer: str, idempotency_key: str | None) -> str:
    """26 base32hex characters (valid as a Calendar event id and as a requestId).

    Derived from (organizer, key) so every retry of one request names the same
    event, and Calendar's 409 on a reused id does the de-duplication for us.
    """
    if idempotency_key is None:
        return _base32hex(secrets.token_bytes(16))[:26]
    digest = hashlib.sha256(f"{organizer.lower()}\n{idempotency_key}".encode()).digest()
    return _base32hex(digest)[:26]


def idempotency_key_hash(organizer: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return ""
    return hashlib.sha256(f"{organizer.lower()}\n{idempotency_key}".encode()).hexdigest()


def check_idempotency_key(value: str | None) -> str | None:
    """The header value, or InvalidRequest when it cannot be a key."""
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidRequest(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters",
            "Idempotency-Key",
        )
    return value


# -- parsing -------------------------------------------------------------------------------------


def _string(body: Json, name: str, *, max_len: int, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required", name)
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", name)
    if required and not value.strip():
        raise InvalidRequest(f"{name} must not be empty", name)
    if len(value) > max_len:
        raise InvalidRequest(f"{name} is longer than {max_len} characters", name)
    return value


def parse_email(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value):
        raise InvalidRequest(f"{name} must be an email address", name)
    return value.lower()


def _time_zone(body: Json) -> str:
    value = body.get("timeZone")
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        raise InvalidRequest("timeZone must be an IANA time zone name", "timeZone")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidRequest(
            f"timeZone {value!r} is not a known IANA time zone", "timeZone"
        ) from None
    return value


def _instant(value: Any, name: str) -> dt.datetime | dt.date:
    if not isinstance(value, str):
        raise InvalidRequest(
            f"{name} must be an RFC 3339 date-time with offset or a YYYY-MM-DD date", name
        )
    try:
        if _RFC3339.match(value):
            return dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} is not a valid date or time: {value!r}", name) from None
    raise InvalidRequest(
        f"{name} must be an RFC 3339 date-time with offset or a YYYY-MM-DD date", name
    )


def _times(body: Json, tz: str) -> tuple[Json, Json]:
    for name in ("start", "end"):
        if body.get(name) is None:
            raise InvalidRequest(f"{name} is required", name)
    start, end = _instant(body["start"], "start"), _instant(body["end"], "end")
    start_is_day = not isinstance(start, dt.datetime)
    if start_is_day != (not isinstance(end, dt.datetime)):
        raise InvalidRequest("start and end must both be date-times or both be dates", "end")
    if not end > start:
        raise InvalidRequest("end must be after start", "end")
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
        raise InvalidRequest("attendees must be a list", "attendees")
    if len(raw) > max_attendees:
        raise InvalidRequest(f"at most {max_attendees} attendees are allowed", "attendees")
    seen: dict[str, Attendee] = {}
    for i, item in enumerate(raw):
        where = f"attendees[{i}]"
        if isinstance(item, str):
            attendee = Attendee(parse_email(item, where))
        elif isinstance(item, dict):
            unknown = sorted(set(item) - {"email", "optional", "displayName"})
            if unknown:
                raise InvalidRequest(f"unknown field {unknown[0]}", f"{where}.{unknown[0]}")
            optional = item.get("optional", False)
            if not isinstance(optional, bool):
                raise InvalidRequest("optional must be true or false", f"{where}.optional")
            name = item.get("displayName", "")
            if not isinstance(name, str) or len(name) > 256:
                raise InvalidRequest("displayName must be a short string", f"{where}.displayName")
            attendee = Attendee(parse_email(item.get("email"), f"{where}.email"), optional, name)
        else:
            raise InvalidRequest("an attendee is an email or an object with email", where)
        seen.setdefault(attendee.email, attendee)
    return tuple(seen.values())


def _recurrence(body: Json) -> tuple[str, ...]:
    raw = body.get("recurrence")
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_RECURRENCE_LINES:
        raise InvalidRequest(
            f"recurrence must be a list of at most {MAX_RECURRENCE_LINES} lines", "recurrence"
        )
    lines = []
    for i, line in enumerate(raw):
        if not isinstance(line, str) or not (_RRULE.match(line) or _DATES.match(line)):
            raise InvalidRequest(
                "each recurrence line must be an RRULE, EXRULE, EXDATE or RDATE line",
                f"recurrence[{i}]",
            )
        lines.append(line)
    if not any(line.startswith("RRULE:") or line.startswith("RDATE") for line in lines):
        raise InvalidRequest("recurrence needs an RRULE or RDATE line", "recurrence")
    return tuple(lines)


def _reminders(body: Json) -> Json | None:
    raw = body.get("reminders")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest("reminders must be an object", "reminders")
    unknown = sorted(set(raw) - {"useDefault", "overrides"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]}", f"reminders.{unknown[0]}")
    use_default = raw.get("useDefault", False)
    if not isinstance(use_default, bool):
        raise InvalidRequest("useDefault must be true or false", "reminders.useDefault")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or len(overrides) > MAX_REMINDER_OVERRIDES:
        raise InvalidRequest(
            f"overrides must be a list of at most {MAX_REMINDER_OVERRIDES}", "reminders.overrides"
        )
    if use_default and overrides:
        raise InvalidRequest(
            "reminders cannot use the default and overrides at once", "reminders.overrides"
        )
    out = []
    for i, item in enumerate(overrides):
        where = f"reminders.overrides[{i}]"
        if not isinstance(item, dict) or set(item) - {"method", "minutes"}:
            raise InvalidRequest("an override is {method, minutes}", where)
        if item.get("method") not in REMINDER_METHODS:
            raise InvalidRequest("method must be email or popup", f"{where}.method")
        minutes = item.get("minutes")
        if (
            not isinstance(minutes, int)
            or isinstance(minutes, bool)
            or not 0 <= minutes <= MAX_REMINDER_MINUTES
        ):
            raise InvalidRequest(
                f"minutes must be an integer from 0 to {MAX_REMINDER_MINUTES}", f"{where}.minutes"
            )
        out.append({"method": item["method"], "minutes": minutes})
    return {"useDefault": use_default, "overrides": out}


def _conference(body: Json) -> tuple[Mode, dict[str, str]]:
    raw = body.get("conference")
    if raw is None:
        return "calendar", {}
    if not isinstance(raw, dict):
        raise InvalidRequest("conference must be an object", "conference")
    unknown = sorted(set(raw) - {"mode", *SPACE_SETTINGS})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]}", f"conference.{unknown[0]}")
    mode = raw.get("mode", "calendar")
    if mode not in MODES:
        raise InvalidRequest("mode must be calendar, space or instant", "conference.mode")
    config: dict[str, str] = {}
    for name, allowed in SPACE_SETTINGS.items():
        if name not in raw:
            continue
        if raw[name] not in allowed:
            raise InvalidRequest(
                f"{name} must be one of {', '.join(allowed)}", f"conference.{name}"
            )
        if mode == "calendar":
            raise InvalidRequest(
                f"{name} needs conference mode space or instant: a conference Calendar"
                " creates gets the organizer's default settings",
                f"conference.{name}",
            )
        config[name] = raw[name]
    return mode, config


def parse(body: Json, *, max_attendees: int) -> MeetingRequest:
    """The validated request, or InvalidRequest naming the first bad field."""
    unknown = sorted(set(body) - TOP_LEVEL_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]}", unknown[0])
    if body.get("organizer") is None:
        raise InvalidRequest("organizer is required", "organizer")
    organizer = parse_email(body["organizer"], "organizer")
    mode, config = _conference(body)
    if mode == "instant":
        for name in EVENT_ONLY_FIELDS:
            if name in body:
                raise InvalidRequest(f"{name} is not used with conference mode instant", name)
        summary = _string(body, "summary", max_len=MAX_SUMMARY)
        return MeetingRequest(organizer=organizer, mode=mode, space_config=config, summary=summary)
    summary = _string(body, "summary", max_len=MAX_SUMMARY, required=True)
    tz = _time_zone(body)
    start, end = _times(body, tz)
    recurrence = _recurrence(body)
    if recurrence and "dateTime" in start and not tz:
        raise InvalidRequest("timeZone is required for a recurring event", "timeZone")
    send_updates = body.get("sendUpdates", "none")
    if send_updates not in SEND_UPDATES:
        raise InvalidRequest("sendUpdates must be all, externalOnly or none", "sendUpdates")
    calendar_id = body.get("calendarId", "primary")
    if not isinstance(calendar_id, str) or not _CALENDAR_ID.match(calendar_id):
        raise InvalidRequest("calendarId must be a calendar id or primary", "calendarId")
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


# -- the Calendar event ----------------------------------------------------------------------


def event_body(request: MeetingRequest, meeting_id: str, space: Json | None = None) -> Json:
    """The events.insert body: our id, our marker, and the conference to make or copy.

    Without `space`, Calendar is asked to create a Meet conference (requestId =
    meeting id, so a retried insert cannot create a second one); with `space`, the
    existing space is copied in as a ready conference.
    """
    private = {OWNED_PROPERTY: meeting_id}
    body: Json = {
        "id": meeting_id,
        "summary": request.summary,
        "start": dict(request.start),
        "end": dict(request.end),
    }
    if request.description:
        body["description"] = request.description
    if request.location:
        body["location"] = request.location
    if request.attendees:
        body["attendees"] = [a.to_event() for a in request.attendees]
    if request.recurrence:
        body["recurrence"] = list(request.recurrence)
    if request.reminders is not None:
        body["reminders"] = request.reminders
    if space is None:
        body["conferenceData"] = {
            "createRequest": {
                "requestId": meeting_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    else:
        private[SPACE_PROPERTY] = str(space["name"])
        body["conferenceData"] = copied_conference(space)
    body["extendedProperties"] = {"private": private}
    return body


def copied_conference(space: Json) -> Json:
    """conferenceData that copies an existing Meet space onto an event."""
    code = str(space["meetingCode"])
    uri = str(space.get("meetingUri") or f"https://meet.google.com/{code}")
    return {
        "conferenceId": code,
        "conferenceSolution": {
            "key": {"type": "hangoutsMeet"},
            "name": "Google Meet",
            "iconUri": MEET_ICON,
        },
        "entryPoints": [
            {"entryPointType": "video", "uri": uri, "label": uri.removeprefix("https://")}
        ],
    }
