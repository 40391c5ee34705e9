"""Entry point `users` (HTTP, operators only): register, inspect and disconnect users.

`POST /users` registers a Workspace user for domain-wide delegation (proven first),
`GET /users/{email}` shows their mode, status and calendars' health (never a token),
`DELETE /users/{email}` disconnects them. The use cases are `shared.services.users`.
"""

from __future__ import annotations

import re

import flask
import functions_framework

from shared import wiring
from shared.http import guard, method, no_route, read_json, respond

_USER_PATH = re.compile(r"^/users/([^/]+)/?$")


@functions_framework.http
@guard
def users(request: flask.Request) -> flask.Response:
    if (request.path.rstrip("/") or "/") == "/users":
        method(request, "POST")
        body = read_json(request, wiring.settings().max_body_bytes)
        user, created = wiring.user_service().register(body)
        return respond(user, 201 if created else 200)
    match = _USER_PATH.match(request.path)
    if match:
        method(request, "GET", "DELETE")
        if request.method == "DELETE":
            return respond(wiring.user_service().disconnect(match.group(1)))
        return respond(wiring.user_service().describe(match.group(1)))
    raise no_route(request, "use /users or /users/{email}")
