"""Entry point `connect` (HTTP, public: browsers): users connect with Google sign-in.

`GET /connect` (optional `login_hint`, `return_to`) sends the browser to Google's
consent screen with a signed state and its cookie; `GET /oauth/callback` is where
Google sends it back. Failures are pages (JSON with `Accept: application/json`). The
flow is `shared.services.onboarding`.
"""

from __future__ import annotations

import html

import flask
import functions_framework

from shared import wiring
from shared.http import (
    guard_pages,
    method,
    no_route,
    page,
    redirect,
    respond,
    set_cookie,
    wants_json,
)


@functions_framework.http
@guard_pages
def connect(request: flask.Request) -> flask.Response:
    path = request.path.rstrip("/") or "/"
    if path not in ("/connect", "/oauth/callback"):
        raise no_route(request, "use /connect or /oauth/callback")
    flow = wiring.onboarding()
    if path == "/connect":
        method(request, "GET")
        started = flow.start(request.args.get("login_hint"), request.args.get("return_to"))
        return redirect(started.location, started.cookie)
    # /oauth/callback
    method(request, "GET")
    query = {k: request.args.get(k, "") for k in request.args}
    done = flow.finish(query, request.cookies.get(flow.cookie_name))
    if done.return_to:
        return redirect(done.return_to, flow.spent_cookie())
    if wants_json(request):
        response = respond(done.result)
    else:
        email = html.escape(done.email)
        response = page(
            "Connected",
            '<h1 id="title">Your Google account is connected</h1>\n'
            f'<p id="connected" data-email="{email}">{email} is connected to meetsync.'
            " You can close this window.</p>",
        )
    response.headers["Cache-Control"] = "no-store"
    return set_cookie(response, flow.spent_cookie())
