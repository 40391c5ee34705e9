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
    service = wiring.user_service()
    if (request.path.rstrip("/") or "/") == "/users":
        method(request, "POST")
        user, created = service.register(read_json(request, wiring.settings().max_body_bytes))
        return respond(user, 201 if created else 200)
    match = _USER_PATH.match(request.path)
    if match:
        method(request, "GET", "DELETE")
        if request.method == "DELETE":
            return respond(service.disconnect(match.group(1)))
        return respond(service.describe(match.group(1)))
    raise no_route(request, "use /users or /users/{email}")
