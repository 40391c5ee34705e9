"""OAuth scopes: spelling, what each API call needs, and Google's 403 for too few.

Every access token carries the scopes it was issued for (granted at consent, asked
for in a refresh or a delegation grant, or the emulator's default). Calendar wants
``calendar`` or ``calendar.events`` (the read-only variants for reads and watches);
Meet wants ``meetings.space.created`` to create or end, ``.settings`` as well to read
or patch, ``.readonly`` as well to read (conference records: ``.created`` or
``.readonly``). Workspace Events (Meet targets) wants ``meetings.space.created`` or
``.readonly``; the Directory ``admin.directory.user`` or ``.readonly``.
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
DIRECTORY_USER = AUTH + "admin.directory.user"
DIRECTORY_USER_READONLY = AUTH + "admin.directory.user.readonly"
_RECORD_METHODS = {
    "conferenceRecords": ("ListConferenceRecords", "GetConferenceRecord"),
    "participants": ("ListParticipants", "GetParticipant"),
    "participantSessions": ("ListParticipantSessions", "GetParticipantSession"),
    "recordings": ("ListRecordings", "GetRecording"),
    "transcripts": ("ListTranscripts", "GetTranscript"),
    "entries": ("ListTranscriptEntries", "GetTranscriptEntry"),
    "smartNotes": ("ListSmartNotes", "GetSmartNote"),
}

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
    DIRECTORY_USER: "View and manage the provisioning of users on your domain",
    DIRECTORY_USER_READONLY: "See info about users on your domain",
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
    parts = req.path.strip("/").split("/")[1:]
    if parts and parts[0] == "conferenceRecords":
        collection = parts[-1] if len(parts) % 2 == 1 else parts[-2]
        names = _RECORD_METHODS.get(collection, _RECORD_METHODS["conferenceRecords"])
        method = names[0] if len(parts) % 2 == 1 else names[1]
        return f"ConferenceRecordsService.{method}", frozenset({MEET_CREATED, MEET_READONLY})
    if req.method == "POST" and req.path.rstrip("/") == "/v2/spaces":
        return "SpacesService.CreateSpace", frozenset({MEET_CREATED})
    if req.path.endswith(":endActiveConference"):
        return "SpacesService.EndActiveConference", frozenset({MEET_CREATED})
    if req.method == "PATCH":
        return "SpacesService.UpdateSpace", frozenset({MEET_CREATED, MEET_SETTINGS})
    return "SpacesService.GetSpace", frozenset({MEET_CREATED, MEET_SETTINGS, MEET_READONLY})


def _events_method(req: Request) -> tuple[str, frozenset[str]]:
    """Workspace Events' RPC name for the call; Meet targets need a Meet scope."""
    path = req.path.rstrip("/")
    if path.startswith("/v1/operations/"):
        name = "google.longrunning.Operations.GetOperation"
    elif path.endswith(":reactivate"):
        name = "SubscriptionsService.ReactivateSubscription"
    elif path == "/v1/subscriptions":
        name = "SubscriptionsService." + (
            "CreateSubscription" if req.method == "POST" else "ListSubscriptions"
        )
    else:
        verb = {"PATCH": "Update", "DELETE": "Delete"}.get(req.method, "Get")
        name = f"SubscriptionsService.{verb}Subscription"
    return name, frozenset({MEET_CREATED, MEET_READONLY})


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
    if api in ("meet", "events"):
        if api == "meet":
            method, needed = _meet_method(req)
            service, full = "meet.googleapis.com", f"google.apps.meet.v2.{method}"
        else:
            method, needed = _events_method(req)
            service = "workspaceevents.googleapis.com"
            full = (
                method
                if method.startswith("google.")
                else (f"google.apps.events.subscriptions.v1.{method}")
            )
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": service, "method": full},
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
        needed = _allowed(api, req)
        service = "admin.googleapis.com" if api == "directory" else "calendar-json.googleapis.com"
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": service},
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


def _allowed(api: str, req: Request) -> frozenset[str]:
    """The scopes any one of which lets the call through."""
    if api == "meet":
        return _meet_method(req)[1]
    if api == "events":
        return _events_method(req)[1]
    if api == "directory":
        return frozenset({DIRECTORY_USER, DIRECTORY_USER_READONLY})
    return _calendar_allowed(req)


def require(token_scope: str, api: str, req: Request) -> None:
    """Raise the API's 403 unless ``token_scope`` holds a scope the call accepts."""
    held = set(parse(token_scope))
    if not held & _allowed(api, req):
        raise insufficient(api, req)
