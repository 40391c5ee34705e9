"""Admin SDK Directory ``users.get``: who ``users/{id}`` is.

Meet names a signed-in participant ``users/{id}``, where ``id`` is the Directory user
id, the same stable 21-digit number the emulator's ID tokens carry as ``sub``
(``oauth.user_sub``). ``GET /admin/directory/v1/users/{userKey}`` resolves it (or a
primary email) to the emulator user, with Google's rules for who may look: an
administrator sees the ``admin_view`` (the default ``viewType``); any user of the same
domain may read the ``domain_public`` view; a non-administrator asking for the
``admin_view`` is 403 ``Not Authorized to access this resource/api``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import unquote

from emulator.clock import rfc3339
from emulator.errors import calendar_error
from emulator.state import Emulator, User
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

PREFIX = "/admin/directory/v1/"
_USER = re.compile(r"^users/([^/]+)$")
CUSTOMER_ID = "C0emu1ator"


def user_id(email: str) -> str:
    """The Directory user id of an emulator user, also the ID tokens' ``sub``: a stable
    21-digit number derived from the email (the same in every emulator process)."""
    digest = int(hashlib.sha256(email.lower().encode()).hexdigest(), 16)
    return "1" + str(digest % 10**20).zfill(20)


def find(emu: Emulator, key: str) -> User | None:
    """A user by primary email (any case) or by Directory id."""
    user = emu.users.get(key) or next(
        (u for u in emu.users.values() if u.email.lower() == key.lower()), None
    )
    if user is not None:
        return user
    if key.isdigit():
        return next((u for u in emu.users.values() if user_id(u.email) == key), None)
    return None


def names(email: str) -> tuple[str, str]:
    """Given and family name from the address: ``ann.lee@x`` → ("Ann", "Lee")."""
    parts = [p for p in re.split(r"[._-]+", email.split("@")[0]) if p]
    if not parts:
        return email, ""
    given = parts[0].capitalize()
    family = " ".join(p.capitalize() for p in parts[1:])
    return given, family


def display_name(email: str) -> str:
    given, family = names(email)
    return f"{given} {family}".strip()


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def user_resource(user: User, view: str) -> JSON:
    given, family = names(user.email)
    out: JSON = {
        "kind": "admin#directory#user",
        "id": user_id(user.email),
        "etag": '"' + hashlib.sha256(f"{user.email}|{user.admin}".encode()).hexdigest()[:27] + '"',
        "primaryEmail": user.email,
        "name": {"givenName": given, "familyName": family, "fullName": display_name(user.email)},
        "emails": [{"address": user.email, "primary": True}],
    }
    if view == "domain_public":
        return out
    created = rfc3339(user.created)
    out.update(
        {
            "isAdmin": user.admin,
            "isDelegatedAdmin": False,
            "lastLoginTime": created,
            "creationTime": created,
            "agreedToTerms": True,
            "suspended": False,
            "archived": False,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "customerId": CUSTOMER_ID,
            "orgUnitPath": "/",
            "isMailboxSetup": True,
            "isEnrolledIn2Sv": False,
            "isEnforcedIn2Sv": False,
            "includeInGlobalAddressList": True,
        }
    )
    return out


def handle(emu: Emulator, req: Request, caller: str, rest: str) -> Response:
    """``/admin/directory/v1/{rest}`` for an authenticated caller."""
    match = _USER.match(unquote(rest))
    if req.method != "GET" or match is None:
        raise calendar_error(404, "notFound", "Not Found")
    key = match.group(1)
    view = req.q("viewType") or "admin_view"
    if view not in ("admin_view", "domain_public"):
        raise calendar_error(
            400,
            "invalid",
            f"Invalid value '{view}'. Values must match the"
            " following regular expression: '(admin_view|domain_public)'",
        )
    with emu.lock:
        me = emu.users.get(caller)
        user = find(emu, key)
        if user is None:
            raise calendar_error(404, "notFound", "Resource Not Found: userKey")
        if me is None or _domain(me.email) != _domain(user.email):
            raise calendar_error(403, "forbidden", "Not Authorized to access this resource/api")
        if view == "admin_view" and not me.admin:
            raise calendar_error(403, "forbidden", "Not Authorized to access this resource/api")
        return json_response(user_resource(user, view))
