"""OAuth scopes: spelling, what each API call needs, and Google's 403 for too few.

Every access token carries the scopes it was issued for (granted at consent, asked
for in a refresh or a delegation grant, or the emulator's default). Calendar wants
``calendar`` or ``calendar.events`` (the read-only variants for reads and watches);
Meet wants ``meetings.space.created`` to create or end, ``.settings`` as well to read
or patch, ``.readonly`` as well to read.
"""

from __future__ import annotations

import re

from emulator.errors import ApiError
from emulator.wire import Request

AUTH = "https://www.googleapis.com/auth/"
OPENID = "openid"
EMAIL = AUTH + "userinfo.email"
PROFILE = AUTH + "userinfo.profile"
IDENTITY = frozenset({OPENID, EMAIL, PROFILE})
"""Sign-in scopes: granted whenever asked (Google's granular consent cannot untick them)."""
_SHORT = {"email": EMAIL, "profile": PROFILE, "openid": OPENID}

CALENDAR = frozenset({AUTH + "calendar", AUTH + "calendar.events"})
CALENDAR_READ = CALENDAR | {AUTH + "calendar.readonly", AUTH + "calendar.events.readonly"}
MEET_CREATED = AUTH + "meetings.space.created"
MEET_SETTINGS = AUTH + "meetings.space.settings"
MEET_READONLY = AUTH + "meetings.space.readonly"

_DESCRIPTIONS = {
    OPENID: "Associate you with your personal info on Google",
    EMAIL: "See your primary Google Account email address",
    PROFILE: "See your personal info, including any personal info you've made publicly available",
    AUTH + "calendar": "See, edit, share, and permanently delete all the calendars you can"
    " access using Google Calendar",
    AUTH + "calendar.events": "View and edit events on all your calendars",
    AUTH + "calendar.readonly": "See and download any calendar you can access using your"
    " Google Calendar",
    AUTH + "calendar.events.readonly": "View events on all your calendars",
    MEET_CREATED: "Create, edit, and see information about your Google Meet conferences"
    " created by the app",
    MEET_SETTINGS: "Edit, and see settings for all of your Google Meet calls",
    MEET_READONLY: "Read information about any of your Google Meet conferences",
}
_WELL_FORMED = re.compile(r"^https://www\.googleapis\.com/auth/[A-Za-z0-9._-]+$")


def normalise(scope: str) -> str:
    """``email`` → ``.../auth/userinfo.email`` (as Google echoes it); others unchanged."""
    return _SHORT.get(scope, scope)


def parse(text: str | None) -> list[str]:
    """A space-separated scope string as an ordered list without duplicates."""
    out: list[str] = []
    for raw in (text or "").split():
        scope = normalise(raw)
        if scope not in out:
            out.append(scope)
    return out


def join(scopes: list[str]) -> str:
    return " ".join(scopes)


def invalid(scopes: list[str]) -> list[str]:
    """Scopes Google would refuse as unknown (``invalid_scope``)."""
    return [s for s in scopes if s not in IDENTITY and not _WELL_FORMED.match(s)]


def describe(scope: str) -> str:
    return _DESCRIPTIONS.get(scope, scope)


def slug(scope: str) -> str:
    """A stable HTML id fragment: ``calendar.events`` → ``calendar-events``."""
    tail = scope.removeprefix(AUTH)
    return re.sub(r"[^A-Za-z0-9]+", "-", tail).strip("-").lower()


def _meet_method(req: Request) -> tuple[str, frozenset[str]]:
    """Meet's RPC name for the call and the scopes that allow it."""
    if req.method == "POST" and req.path.rstrip("/") == "/v2/spaces":
        return "CreateSpace", frozenset({MEET_CREATED})
    if req.path.endswith(":endActiveConference"):
        return "EndActiveConference", frozenset({MEET_CREATED})
    if req.method == "PATCH":
        return "UpdateSpace", frozenset({MEET_CREATED, MEET_SETTINGS})
    return "GetSpace", frozenset({MEET_CREATED, MEET_SETTINGS, MEET_READONLY})


def _calendar_allowed(req: Request) -> frozenset[str]:
    reading = req.method == "GET" or req.path.endswith(("/events/watch", "/channels/stop"))
    return CALENDAR_READ if reading else CALENDAR


def _www_authenticate(needed: frozenset[str]) -> str:
    return (
        'Bearer realm="https://accounts.google.com/", error="insufficient_scope",'
        f' scope="{" ".join(sorted(needed))}"'
    )


def insufficient(api: str, req: Request) -> ApiError:
    """The 403 Google answers when the token lacks every scope the call accepts."""
    message = "Request had insufficient authentication scopes."
    if api == "meet":
        method, needed = _meet_method(req)
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {
                "service": "meet.googleapis.com",
                "method": f"google.apps.meet.v2.SpacesService.{method}",
            },
        }
        body = {
            "error": {
                "code": 403,
                "message": message,
                "status": "PERMISSION_DENIED",
                "details": [info],
            }
        }
    else:
        needed = _calendar_allowed(req)
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "calendar-json.googleapis.com"},
        }
        body = {
            "error": {
                "code": 403,
                "message": message,
                "errors": [
                    {
                        "message": "Insufficient Permission",
                        "domain": "global",
                        "reason": "insufficientPermissions",
                    }
                ],
                "status": "PERMISSION_DENIED",
                "details": [info],
            }
        }
    return ApiError(403, body, {"WWW-Authenticate": _www_authenticate(needed)})


def require(token_scope: str, api: str, req: Request) -> None:
    """Raise the API's 403 unless ``token_scope`` holds a scope the call accepts."""
    held = set(parse(token_scope))
    needed = _meet_method(req)[1] if api == "meet" else _calendar_allowed(req)
    if not held & needed:
        raise insufficient(api, req)
