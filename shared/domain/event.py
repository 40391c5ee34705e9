"""Calendar events as JSON: typed accessors for what the policy reads, and the bodies we write.

Google's event JSON is read in one place (`Conference.of`, `times`,
`attendee_emails`, `private_property`) so the conference policy never chains
`.get(...) or {}` itself; `event_body` builds the events.insert body of a meeting.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from shared.domain.meeting_request import MeetingRequest

Json = dict[str, Any]

OWNED_PROPERTY = "meetsyncMeeting"
"""Private extended property marking an event as made by this product (value: meeting id)."""
SPACE_PROPERTY = "meetsyncSpace"
"""Private extended property we stamp with the Meet space name once it is known."""

LISTED_FIELDS = (
    "id",
    "etag",
    "status",
    "updated",
    "summary",
    "htmlLink",
    "start",
    "end",
    "recurrence",
    "recurringEventId",
    "originalStartTime",
    "attendees",
    "conferenceData",
    "extendedProperties",
)
"""What a sync reads of a listed event: everything the accessors here and the conference
policy look at, and what tells an occurrence from its series (`recurringEventId`,
`originalStartTime`, `recurrence`). A sync lists its events as a partial response of
these fields, about half of each event's bytes (creator, organizer, reminders,
description, iCalUID... are never read), so a 2,500-event page costs half the transfer
and decoding."""

LIST_FIELDS = "accessRole,nextPageToken,nextSyncToken,items(" + ",".join(LISTED_FIELDS) + ")"
"""The `fields` selection of an events.list page (Google's partial-response syntax)."""

MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)


@dataclass(frozen=True, slots=True)
class Conference:
    """The parts of an event's `conferenceData` the policy looks at."""

    solution: str
    conference_id: str
    request_id: str
    status: str
    """`pending`, `success`, `failure`, or `` for a copied conference (no createRequest)."""
    uri: str

    @classmethod
    def of(cls, event: Json) -> Conference | None:
        data = event.get("conferenceData")
        if not isinstance(data, dict):
            return None
        create = data.get("createRequest") or {}
        solution = (data.get("conferenceSolution") or {}).get("key", {}).get("type") or (
            create.get("conferenceSolutionKey") or {}
        ).get("type", "")
        video = next(
            (
                e.get("uri", "")
                for e in data.get("entryPoints") or []
                if e.get("entryPointType") == "video"
            ),
            "",
        )
        return cls(
            solution=str(solution),
            conference_id=str(data.get("conferenceId", "")),
            request_id=str(create.get("requestId", "")),
            status=str((create.get("status") or {}).get("statusCode", "")),
            uri=str(video),
        )

    @property
    def ready(self) -> bool:
        """Usable: a created conference that succeeded, or a copied one with a link."""
        return self.status == "success" or (not self.status and bool(self.uri))


def times(event: Json, key: str) -> Json:
    value = event.get(key) or {}
    return {k: value[k] for k in ("date", "dateTime", "timeZone") if k in value}


def last_end(event: Json) -> dt.datetime | None:
    """When the event is over for good: its end (an all-day end date counts from its
    midnight UTC); None when unknown or recurring (a series' `end` is its first
    occurrence's, so only the recurrence would tell)."""
    if event.get("recurrence"):
        return None
    end = event.get("end") or {}
    raw = end.get("dateTime") or end.get("date")
    if not isinstance(raw, str):
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


_PERIOD = {
    "DAILY": dt.timedelta(days=1),
    "WEEKLY": dt.timedelta(weeks=1),
    "MONTHLY": dt.timedelta(days=31),
    "YEARLY": dt.timedelta(days=366),
}
"""The longest a recurrence period can be (an upper bound is all `series_end` needs)."""


def series_end(recurrence: list[str], first_end: dt.datetime) -> dt.datetime | None:
    """When a series whose first occurrence ends at `first_end` is over for good, at the
    latest (an upper bound: UNTIL plus a day, COUNT periods of the rule's longest length,
    the last RDATE plus a day); None when a rule never ends or cannot be read."""
    latest = first_end
    for line in recurrence:
        name, _, value = line.partition(":")
        kind = name.split(";", 1)[0].strip().upper()
        if kind == "RRULE":
            parts = dict(p.split("=", 1) for p in value.split(";") if "=" in p)
            try:
                if "UNTIL" in parts:
                    until = _ical_time(parts["UNTIL"])
                    if until is None:
                        return None
                    latest = max(latest, until + dt.timedelta(days=1))
                elif "COUNT" in parts:
                    period = _PERIOD.get(parts.get("FREQ", "").upper(), dt.timedelta(days=1))
                    periods = int(parts["COUNT"]) * int(parts.get("INTERVAL", "1"))
                    latest = max(latest, first_end + period * periods)
                else:
                    return None  # never ends
            except (ValueError, OverflowError):
                return None
        elif kind == "RDATE":
            for raw in value.split(","):
                when = _ical_time(raw.split("/", 1)[0])
                if when is None:
                    return None
                latest = max(latest, when + dt.timedelta(days=1))
    return latest


def _ical_time(text: str) -> dt.datetime | None:
    """An iCalendar DATE or DATE-TIME (`20261231`, `20261231T235959Z`), taken as UTC."""
    for layout in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text.strip(), layout).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def attendee_emails(event: Json) -> list[str]:
    return sorted(str(a.get("email", "")).lower() for a in event.get("attendees") or [])


def private_property(event: Json, name: str) -> Any:
    """A private extended property of the event, or None."""
    props = event.get("extendedProperties")
    private = props.get("private") if isinstance(props, dict) else None
    return private.get(name) if isinstance(private, dict) else None


def stamped_space(event: Json) -> Any:
    """The Meet space name we stamped onto the event, if any."""
    return private_property(event, SPACE_PROPERTY)


def owner_meeting(event: Json) -> str:
    """The id of the meeting that made this event ('' if none of ours)."""
    return str(private_property(event, OWNED_PROPERTY) or "")


def private_properties(event: Json) -> dict[str, Any]:
    """A copy of the event's private extended properties (to patch them whole)."""
    props = event.get("extendedProperties")
    private = props.get("private") if isinstance(props, dict) else None
    return dict(private) if isinstance(private, dict) else {}


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
