"""Meet REST v2 ``spaces``: create, get (by name or meeting code), patch, endActiveConference.

Enum fields may come as names or as numbers (proto-JSON; Google's GAPIC REST clients send
numbers, see ``enums.py``). Conference records are in ``records.py``; what happens in a
space (joins, leaves, ends, artifacts) in ``meeting.py``.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
from typing import Any
from urllib.parse import unquote

from emulator import enums, meeting
from emulator.errors import ApiError, meet_error
from emulator.state import Emulator, Space
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits
_CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")
_CONFIG_ENUMS: dict[str, set[str]] = {
    "accessType": {"OPEN", "TRUSTED", "RESTRICTED"},
    "entryPointAccess": {"ALL", "CREATOR_APP_ONLY"},
    "moderation": {"ON", "OFF"},
    "attendanceReportGenerationType": {"GENERATE_REPORT", "DO_NOT_GENERATE"},
}
_CONFIG_KEYS = {*_CONFIG_ENUMS, "moderationRestrictions", "artifactConfig"}


def default_config() -> JSON:
    """What a new space gets when the creator says nothing (our users' settings)."""
    return {
        "accessType": "TRUSTED",
        "entryPointAccess": "ALL",
        "moderation": "OFF",
        "attendanceReportGenerationType": "DO_NOT_GENERATE",
        "artifactConfig": {
            "recordingConfig": {"autoRecordingGeneration": "OFF"},
            "transcriptionConfig": {"autoTranscriptionGeneration": "OFF"},
            "smartNotesConfig": {"autoSmartNotesGeneration": "OFF"},
        },
    }


def _meeting_code() -> str:
    letters = string.ascii_lowercase
    parts = ["".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3)]
    return "-".join(parts)


def create_space(emu: Emulator, owner: str, config: JSON | None = None) -> Space:
    """Make a space owned by ``owner``; also used by Calendar's conference creation."""
    while True:
        space_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
        code = _meeting_code()
        if space_id not in emu.spaces and code not in emu.space_by_code:
            break
    merged = default_config()
    if config:
        _deep_merge(merged, config)
    for key in ("accessType", "entryPointAccess"):  # never answered as unspecified
        if merged.get(key) == enums.MEET[key][0]:
            merged[key] = default_config()[key]
    space = Space(space_id, code, owner, merged, emu.clock.now())
    emu.spaces[space_id] = space
    emu.space_by_code[code] = space_id
    return space


def space_resource(space: Space, viewer: str | None) -> JSON:
    """The Space as Meet returns it; config only for the owner."""
    out: JSON = {
        "name": f"spaces/{space.id}",
        "meetingUri": f"https://meet.google.com/{space.meeting_code}",
        "meetingCode": space.meeting_code,
    }
    if viewer is None or viewer == space.owner:
        out["config"] = copy.deepcopy(space.config)
    if space.active:
        out["activeConference"] = {"conferenceRecord": f"conferenceRecords/{space.active.id}"}
    return out


def lookup(emu: Emulator, key: str, *, allow_code: bool) -> Space:
    """Find a space by id (case-sensitive) or, where allowed, by meeting code."""
    space = emu.spaces.get(key)
    if space is None and allow_code:
        space_id = emu.space_by_code.get(key.lower())
        space = emu.spaces.get(space_id) if space_id else None
    if space is None:
        raise meet_error(404)
    return space


def _deep_merge(target: JSON, patch: JSON) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _validate_config(config: Any) -> JSON:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise meet_error(400, "Invalid value for config.")
    for key, value in config.items():
        if key not in _CONFIG_KEYS:
            raise meet_error(
                400, f"Invalid JSON payload received. Unknown name \"{key}\" at 'space.config'."
            )
        allowed = _CONFIG_ENUMS.get(key)
        if allowed is not None and value not in allowed and value != enums.MEET[key][0]:
            raise meet_error(400, f"Invalid value at 'space.config.{key}' ({value}).")
    return config


def _get_path(obj: Any, path: list[str]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def _set_path(obj: JSON, path: list[str], present: bool, value: Any) -> None:
    for part in path[:-1]:
        obj = obj.setdefault(part, {})
    if present:
        obj[path[-1]] = copy.deepcopy(value)
    else:
        obj.pop(path[-1], None)


def _camel(path: str) -> str:
    """Field-mask paths may be snake_case (``config.access_type``) or lowerCamel."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


def _patch(space: Space, body: JSON, mask: str | None) -> None:
    config = _validate_config(body.get("config"))
    if not mask:
        _deep_merge(space.config, config)
    elif mask.strip() == "*":
        fresh = copy.deepcopy(config)
        fresh.setdefault("accessType", default_config()["accessType"])
        fresh.setdefault("entryPointAccess", default_config()["entryPointAccess"])
        space.config = fresh
    else:
        for field_path in (_camel(p.strip()) for p in mask.split(",") if p.strip()):
            parts = field_path.split(".")
            if parts[0] != "config" or (len(parts) > 1 and parts[1] not in _CONFIG_KEYS):
                raise meet_error(400, f"Invalid update mask path: {field_path}")
            if len(parts) == 1:
                space.config = {**default_config(), **copy.deepcopy(config)}
                continue
            present, value = _get_path(config, parts[1:])
            _set_path(space.config, parts[1:], present, value)
    for key in ("accessType", "entryPointAccess"):
        if space.config.get(key) in (None, enums.MEET[key][0]):
            space.config[key] = default_config()[key]


def handle(emu: Emulator, req: Request, user: str, rest: str) -> Response:
    """Dispatch ``/v2/{rest}`` for an authenticated user."""
    rest = unquote(rest)
    try:
        body = req.json() if req.method in ("POST", "PATCH") else {}
    except ValueError as exc:
        raise meet_error(400, "Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise meet_error(400, "Invalid JSON payload received.")
    body = enums.numbers_to_names(body, enums.MEET)
    with emu.lock:
        if rest == "spaces" and req.method == "POST":
            space = create_space(emu, user, _validate_config(body.get("config")))
            space.created_by_app = True
            return json_response(space_resource(space, user))
        m = re.fullmatch(r"spaces/([^/:]+)(:endActiveConference)?", rest)
        if not m:
            raise meet_error(404, f"Method not found: {req.method} /v2/{rest}")
        key, action = m.group(1), m.group(2)
        if action:
            if req.method != "POST":
                raise meet_error(404)
            space = lookup(emu, key, allow_code=False)
            _require_owner(space, user)
            if not meeting.end(emu, space, "endActiveConference"):
                raise meet_error(400, "No active conference in the space.", "FAILED_PRECONDITION")
            return json_response({})
        if req.method == "GET":
            return json_response(space_resource(lookup(emu, key, allow_code=True), user))
        if req.method == "PATCH":
            space = lookup(emu, key, allow_code=False)
            _require_owner(space, user)
            _patch(space, body, req.q("updateMask"))
            return json_response(space_resource(space, user))
    raise meet_error(404, f"Method not found: {req.method} /v2/{rest}")


def _require_owner(space: Space, user: str) -> None:
    if space.owner != user:
        raise meet_error(403)


__all__ = ["ApiError", "create_space", "handle", "lookup", "space_resource"]
