"""Meet enum values as names and as numbers (proto-JSON accepts both; GAPIC sends numbers).

Google's GAPIC REST clients (``google-apps-meet`` with ``transport="rest"``) ask for
``$alt=json;enum-encoding=int`` and send enum fields as integers (``"accessType": 1``).
Google accepts names and numbers alike in requests and, when asked for
``enum-encoding=int``, answers numbers. The numbers are the proto enum values, which
for Meet follow the order of the discovery document's ``enum`` lists
(``tests/emulator/test_meet_gapic.py`` checks every table against the protos).
"""

from __future__ import annotations

from typing import Any

from emulator.wire import Request

_RESTRICTION = ["RESTRICTION_TYPE_UNSPECIFIED", "HOSTS_ONLY", "NO_RESTRICTION"]
_AUTO = ["AUTO_GENERATION_TYPE_UNSPECIFIED", "ON", "OFF"]

MEET: dict[str, list[str]] = {
    "accessType": ["ACCESS_TYPE_UNSPECIFIED", "OPEN", "TRUSTED", "RESTRICTED"],
    "entryPointAccess": ["ENTRY_POINT_ACCESS_UNSPECIFIED", "ALL", "CREATOR_APP_ONLY"],
    "moderation": ["MODERATION_UNSPECIFIED", "OFF", "ON"],
    "attendanceReportGenerationType": [
        "ATTENDANCE_REPORT_GENERATION_TYPE_UNSPECIFIED",
        "GENERATE_REPORT",
        "DO_NOT_GENERATE",
    ],
    "chatRestriction": _RESTRICTION,
    "reactionRestriction": _RESTRICTION,
    "presentRestriction": _RESTRICTION,
    "defaultJoinAsViewerType": ["DEFAULT_JOIN_AS_VIEWER_TYPE_UNSPECIFIED", "ON", "OFF"],
    "autoRecordingGeneration": _AUTO,
    "autoTranscriptionGeneration": _AUTO,
    "autoSmartNotesGeneration": _AUTO,
    "state": ["STATE_UNSPECIFIED", "STARTED", "ENDED", "FILE_GENERATED"],
    "role": ["ROLE_UNSPECIFIED", "COHOST"],
}
"""Meet v2 enum fields by JSON name: the values in proto order (index = number)."""


def wants_int(req: Request) -> bool:
    """Whether the caller asked for ``$alt=json;enum-encoding=int`` (GAPIC REST)."""
    return any("enum-encoding=int" in v for v in req.qall("$alt"))


def names_to_numbers(value: Any, table: dict[str, list[str]]) -> Any:
    """A response with every known enum name replaced by its number."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            values = table.get(key)
            if values is not None and isinstance(item, str) and item in values:
                out[key] = values.index(item)
            else:
                out[key] = names_to_numbers(item, table)
        return out
    if isinstance(value, list):
        return [names_to_numbers(v, table) for v in value]
    return value


def numbers_to_names(value: Any, table: dict[str, list[str]]) -> Any:
    """A request with every enum number (proto-JSON allows them) replaced by its name;
    an unknown number stays a number, for the caller's validation to refuse."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            values = table.get(key)
            if (
                values is not None
                and isinstance(item, int)
                and not isinstance(item, bool)
                and 0 <= item < len(values)
            ):
                out[key] = values[item]
            else:
                out[key] = numbers_to_names(item, table)
        return out
    if isinstance(value, list):
        return [numbers_to_names(v, table) for v in value]
    return value
