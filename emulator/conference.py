"""Conference data on events: asynchronous Meet creation, copying, and removal.

Creation is two-step like Google's: the write answers ``pending`` and a scheduled
task later turns it into ``success`` (a new Meet space owned by the organizer) or
``failure``. That second step is an ordinary committed change.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator import meet
from emulator.errors import calendar_error
from emulator.state import CalendarData, Emulator
from emulator.store import commit

JSON = dict[str, Any]

MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)
_COPYABLE = (
    "conferenceId",
    "conferenceSolution",
    "entryPoints",
    "notes",
    "parameters",
    "signature",
)


def _keep(data: JSON, old: JSON | None) -> None:
    for key in ("conferenceData", "hangoutLink"):
        if old and key in old:
            data[key] = copy.deepcopy(old[key])
        else:
            data.pop(key, None)


def _remove(data: JSON) -> None:
    data.pop("conferenceData", None)
    data.pop("hangoutLink", None)


def apply(data: JSON, old: JSON | None, body: JSON, version: int, *, replace: bool) -> str | None:
    """Set ``data``'s conference from the request; answers a requestId to schedule, if any.

    ``replace`` is True for update (PUT), where leaving the field out removes it.
    """
    if version < 1:
        _keep(data, old)
        return None
    if "conferenceData" not in body:
        if replace:
            _remove(data)
        else:
            _keep(data, old)
        return None
    wanted = body["conferenceData"]
    if not wanted:
        _remove(data)
        return None
    if not isinstance(wanted, dict):
        raise calendar_error(400, "invalid", "Invalid conference data.")
    old_cd: JSON = (old or {}).get("conferenceData") or {}
    create = wanted.get("createRequest")
    if create:
        request_id = create.get("requestId")
        if not request_id:
            raise calendar_error(
                400, "invalid", "Invalid conference create request: missing requestId."
            )
        kind = (create.get("conferenceSolutionKey") or {}).get("type")
        if kind != "hangoutsMeet":
            raise calendar_error(400, "invalid", "Invalid conference type value.")
        if (old_cd.get("createRequest") or {}).get("requestId") == request_id:
            _keep(data, old)
            return None
        data["conferenceData"] = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
                "status": {"statusCode": "pending"},
            }
        }
        data.pop("hangoutLink", None)
        return str(request_id)
    if not wanted.get("conferenceSolution") or not wanted.get("entryPoints"):
        raise calendar_error(400, "invalid", "Invalid conference data.")
    conference = {k: copy.deepcopy(wanted[k]) for k in _COPYABLE if k in wanted}
    data["conferenceData"] = conference
    data.pop("hangoutLink", None)
    if (conference["conferenceSolution"].get("key") or {}).get("type") == "hangoutsMeet":
        for ep in conference["entryPoints"]:
            if ep.get("entryPointType") == "video" and ep.get("uri"):
                data["hangoutLink"] = ep["uri"]
    return None


def schedule(emu: Emulator, cal: CalendarData, event_id: str, request_id: str) -> None:
    """Finish the create request after ``conference_delay_ms`` of emulator time."""
    due = emu.clock.now() + float(emu.config["conference_delay_ms"]) / 1000
    emu.scheduler.call_at(due, lambda: complete(emu, cal.uid, event_id, request_id))


def complete(emu: Emulator, calendar_uid: str, event_id: str, request_id: str) -> None:
    """Turn a still-pending request into success or failure (a committed change)."""
    with emu.lock:
        cal = emu.calendars_by_uid.get(calendar_uid)
        ev = cal.events.get(event_id) if cal else None
        if cal is None or ev is None:
            return
        request = (ev.data.get("conferenceData") or {}).get("createRequest") or {}
        if (
            request.get("requestId") != request_id
            or request.get("status", {}).get("statusCode") != "pending"
        ):
            return
        if emu.config["conference_outcome"] == "failure":
            request["status"] = {"statusCode": "failure"}
            ev.data["conferenceData"] = {"createRequest": request}
        else:
            space = meet.create_space(emu, cal.owner)
            code = space.meeting_code
            request["status"] = {"statusCode": "success"}
            ev.data["conferenceData"] = {
                "entryPoints": [
                    {
                        "entryPointType": "video",
                        "uri": f"https://meet.google.com/{code}",
                        "label": f"meet.google.com/{code}",
                    }
                ],
                "conferenceSolution": {
                    "key": {"type": "hangoutsMeet"},
                    "name": "Google Meet",
                    "iconUri": MEET_ICON,
                },
                "conferenceId": code,
                "createRequest": request,
            }
            ev.data["hangoutLink"] = f"https://meet.google.com/{code}"
        commit(emu, cal, ev)
