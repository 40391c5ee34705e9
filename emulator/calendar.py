"""Routes ``/calendar/v3/...`` to the event, listing and channel handlers."""

from __future__ import annotations

from urllib.parse import unquote

from emulator import channels, events, listing
from emulator.errors import calendar_error
from emulator.state import Emulator
from emulator.store import resolve_calendar
from emulator.wire import Request, Response, json_response


def handle(emu: Emulator, req: Request, user: str, rest: str) -> Response:
    segs = [unquote(s) for s in rest.strip("/").split("/")]
    method = req.method
    with emu.lock:
        if segs == ["channels", "stop"] and method == "POST":
            return channels.stop(emu, req, user)
        if len(segs) < 2 or segs[0] != "calendars":
            raise calendar_error(404)
        cal = resolve_calendar(emu, user, segs[1])
        if len(segs) == 2 and method == "GET":
            return json_response(
                {
                    "kind": "calendar#calendar",
                    "etag": f'"{cal.uid}"',
                    "id": cal.id,
                    "summary": cal.id,
                    "timeZone": "UTC",
                    "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
                }
            )
        if len(segs) < 3 or segs[2] != "events":
            raise calendar_error(404)
        if len(segs) == 3:
            if method == "GET":
                return listing.list_events(emu, cal, req)
            if method == "POST":
                return events.insert(emu, cal, req)
        elif len(segs) == 4:
            event_id = segs[3]
            if method == "POST" and event_id == "import":
                return events.import_event(emu, cal, req)
            if method == "POST" and event_id == "watch":
                return channels.watch(emu, cal, req, user, segs[1])
            if method == "GET":
                return events.get(cal, req, event_id)
            if method == "PATCH":
                return events.write(emu, cal, req, event_id, replace=False)
            if method == "PUT":
                return events.write(emu, cal, req, event_id, replace=True)
            if method == "DELETE":
                return events.delete(emu, cal, req, event_id)
        elif len(segs) == 5 and segs[4] == "instances" and method == "GET":
            return listing.list_instances(emu, cal, req, segs[3])
    raise calendar_error(404)


__all__ = ["handle"]
