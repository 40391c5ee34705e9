"""Calendar events: insert, import, get, patch, update, delete.

Instances of recurring events are virtual until written; a write through an
instance id materialises an exception event carrying ``recurringEventId`` and
``originalStartTime``.
"""

from __future__ import annotations

import copy
import re
import secrets

from emulator import conference, recurrence
from emulator.clock import rfc3339
from emulator.errors import ApiError, bad_param, calendar_error
from emulator.state import CalendarData, Emulator, StoredEvent
from emulator.store import (
    EVENT_FIELDS,
    SERVER_FIELDS,
    add_event,
    commit,
    html_link,
    validate_times,
)
from emulator.wire import JSON, Request, Response, empty_response, json_response, raw_json_response

_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
_STATUSES = {"confirmed", "tentative", "cancelled"}
_EVENT_TYPES = {"default", "outOfOffice", "focusTime", "workingLocation", "fromGmail", "birthday"}
_WRITABLE = frozenset(EVENT_FIELDS) - SERVER_FIELDS
_SIGNIFICANT = ("start", "end", "recurrence", "status", "location")


def new_event_id() -> str:
    return "".join(secrets.choice(_BASE32HEX) for _ in range(26))


def _body(req: Request) -> JSON:
    try:
        body = req.json()
    except ValueError as exc:
        raise calendar_error(400, "parseError", "Parse Error") from exc
    if not isinstance(body, dict):
        raise calendar_error(400, "parseError", "Parse Error")
    return body


def _version(req: Request) -> int:
    raw = req.q("conferenceDataVersion")
    if raw is None:
        return 0
    if raw not in ("0", "1"):
        raise bad_param("conferenceDataVersion")
    return int(raw)


def _client_fields(req: Request, body: JSON) -> JSON:
    """The writable fields of the body (unknown and read-only ones dropped)."""
    fields = {k: copy.deepcopy(v) for k, v in body.items() if k in _WRITABLE and v is not None}
    if req.q("supportsAttachments") != "true":
        fields.pop("attachments", None)
    status = fields.get("status")
    if status is not None and status not in _STATUSES:
        raise calendar_error(400, "invalid", "Invalid value for: status")
    return fields


def _check_if_match(req: Request, ev: StoredEvent) -> None:
    wanted = req.header("if-match")
    if wanted and wanted.strip() != "*" and wanted.strip() != ev.data.get("etag"):
        raise calendar_error(
            412,
            "conditionNotMet",
            "Precondition Failed",
            location_type="header",
            location="If-Match",
        )


def _finish_write(
    emu: Emulator, cal: CalendarData, ev: StoredEvent, request_id: str | None
) -> Response:
    commit(emu, cal, ev)
    if request_id:
        conference.schedule(emu, cal, ev.data["id"], request_id)
    return raw_json_response(ev.json())


def insert(emu: Emulator, cal: CalendarData, req: Request) -> Response:
    body = _body(req)
    event_id = body.get("id")
    if event_id is not None:
        if not isinstance(event_id, str) or not _ID.match(event_id):
            raise calendar_error(400, "invalid", "Invalid resource id value.")
        if event_id in cal.events:
            raise calendar_error(409, "duplicate", "The requested identifier already exists.")
    else:
        event_id = new_event_id()
    event_type = body.get("eventType") or "default"
    if event_type not in _EVENT_TYPES:
        raise calendar_error(400, "invalid", "Invalid event type.")
    data = _client_fields(req, body)
    validate_times(data)
    now = rfc3339(emu.clock.now())
    owner = {"email": cal.owner, "self": True}
    data.update(
        kind="calendar#event",
        id=event_id,
        htmlLink=html_link(cal.id, event_id),
        created=now,
        creator=dict(owner),
        organizer=dict(owner),
        iCalUID=f"{event_id}@google.com",
        sequence=int(body.get("sequence") or 0),
        eventType=event_type,
    )
    data.setdefault("status", "confirmed")
    data.setdefault("reminders", {"useDefault": True})
    request_id = conference.apply(data, None, body, _version(req), replace=False)
    ev = add_event(cal, data)
    return _finish_write(emu, cal, ev, request_id)


def import_event(emu: Emulator, cal: CalendarData, req: Request) -> Response:
    """Import keyed by iCalUID: a second import of one UID updates the first copy."""
    body = _body(req)
    ical = body.get("iCalUID")
    if not ical:
        raise calendar_error(
            400, "required", "Missing iCalUID.", location_type="parameter", location="iCalUID"
        )
    if (body.get("eventType") or "default") != "default":
        raise calendar_error(400, "invalid", "Only events of type default can be imported.")
    data = _client_fields(req, body)
    validate_times(data)
    organizer = body.get("organizer") or {"email": cal.owner}
    organizer = {**organizer, "self": organizer.get("email") == cal.owner}
    existing_id = cal.by_ical.get(ical)
    version = _version(req)
    if existing_id is not None:
        ev = cal.events[existing_id]
        old = ev.data
        new = {
            k: old[k]
            for k in ("kind", "id", "htmlLink", "created", "creator", "iCalUID", "eventType")
        }
        new.update(data)
        new["organizer"] = organizer
        new.setdefault("status", "confirmed")
        new.setdefault("reminders", {"useDefault": True})
        new["sequence"] = max(int(body.get("sequence") or 0), int(old.get("sequence", 0)))
        request_id = conference.apply(new, old, body, version, replace=True)
        ev.data = new
        return _finish_write(emu, cal, ev, request_id)
    event_id = body.get("id") or new_event_id()
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise calendar_error(400, "invalid", "Invalid resource id value.")
    if event_id in cal.events:
        raise calendar_error(409, "duplicate", "The requested identifier already exists.")
    data.update(
        kind="calendar#event",
        id=event_id,
        htmlLink=html_link(cal.id, event_id),
        created=rfc3339(emu.clock.now()),
        creator={"email": cal.owner, "self": True},
        organizer=organizer,
        iCalUID=ical,
        sequence=int(body.get("sequence") or 0),
        eventType="default",
    )
    data.setdefault("status", "confirmed")
    data.setdefault("reminders", {"useDefault": True})
    request_id = conference.apply(data, None, body, version, replace=False)
    ev = add_event(cal, data)
    return _finish_write(emu, cal, ev, request_id)


def find(cal: CalendarData, event_id: str) -> tuple[StoredEvent | None, JSON | None]:
    """A stored event, or else the virtual instance named by ``event_id``; 404 if neither."""
    ev = cal.events.get(event_id)
    if ev is not None:
        return ev, None
    parsed = recurrence.parse_instance_id(event_id)
    if parsed:
        master = cal.events.get(parsed[0])
        if master is not None and master.recurring:
            occ = recurrence.find(master.data, parsed[1])
            if occ is not None:
                return None, recurrence.instance_resource(master.data, occ)
    raise calendar_error(404)


def _materialise(cal: CalendarData, virtual: JSON) -> StoredEvent:
    data = copy.deepcopy(virtual)
    return add_event(cal, data)


def get(cal: CalendarData, req: Request, event_id: str) -> Response:
    ev, virtual = find(cal, event_id)
    if ev is None:
        assert virtual is not None
        return json_response(virtual)
    inm = req.header("if-none-match")
    if inm and inm.strip() == ev.data.get("etag"):
        return Response(304, b"", {"ETag": str(ev.data["etag"])})
    return raw_json_response(ev.json())


def _merge(target: JSON, patch: JSON) -> None:
    """Patch semantics: objects merge, arrays and scalars replace, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif (
            isinstance(value, dict)
            and isinstance(target.get(key), dict)
            and key not in ("start", "end", "originalStartTime")
        ):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def write(
    emu: Emulator, cal: CalendarData, req: Request, event_id: str, *, replace: bool
) -> Response:
    """patch (``replace=False``) and update (``replace=True``)."""
    body = _body(req)
    ev, virtual = find(cal, event_id)
    if ev is not None:
        _check_if_match(req, ev)
        old = ev.data
    else:
        assert virtual is not None
        old = virtual
    if "eventType" in body and body["eventType"] != old.get("eventType", "default"):
        raise calendar_error(400, "invalid", "The event type cannot be changed.")
    if replace:
        new = {k: copy.deepcopy(v) for k, v in old.items() if k in SERVER_FIELDS}
        new.update(_client_fields(req, body))
        new.setdefault("status", "confirmed")
        new.setdefault("reminders", {"useDefault": True})
    else:
        new = copy.deepcopy(old)
        patch = {k: v for k, v in body.items() if k in _WRITABLE}
        if req.q("supportsAttachments") != "true":
            patch.pop("attachments", None)
        _merge(new, patch)
        if new.get("status") not in _STATUSES:
            raise calendar_error(400, "invalid", "Invalid value for: status")
    validate_times(new)
    current_seq = int(old.get("sequence", 0))
    if "sequence" in body and body["sequence"] is not None:
        wanted = int(body["sequence"])
        if wanted < current_seq:
            raise calendar_error(
                400,
                "invalidSequenceValue",
                "Invalid sequence value. The specified sequence number is below the current"
                " sequence number of the resource. Re-fetch the resource and use its sequence"
                " number on the following request.",
            )
        new["sequence"] = wanted
    elif any(new.get(k) != old.get(k) for k in _SIGNIFICANT):
        new["sequence"] = current_seq + 1
    else:
        new["sequence"] = current_seq
    request_id = conference.apply(new, old, body, _version(req), replace=replace)
    if ev is None:
        ev = _materialise(cal, new)
    else:
        ev.data = new
    return _finish_write(emu, cal, ev, request_id)


def _cancel(emu: Emulator, cal: CalendarData, ev: StoredEvent) -> None:
    ev.data["status"] = "cancelled"
    ev.data["sequence"] = int(ev.data.get("sequence", 0)) + 1
    commit(emu, cal, ev)


def delete(emu: Emulator, cal: CalendarData, req: Request, event_id: str) -> Response:
    ev, virtual = find(cal, event_id)
    if ev is None:
        assert virtual is not None
        ev = _materialise(cal, virtual)
    else:
        _check_if_match(req, ev)
        if ev.cancelled:
            raise calendar_error(410, "deleted", "Resource has been deleted")
    _cancel(emu, cal, ev)
    for exc_id in sorted(cal.exceptions.get(ev.data["id"], ())):
        child = cal.events[exc_id]
        if not child.cancelled:
            _cancel(emu, cal, child)
    return empty_response(204)


__all__ = ["ApiError", "delete", "find", "get", "import_event", "insert", "write"]
