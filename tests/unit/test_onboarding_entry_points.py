"""The `users` and `connect` entry points in-process (functions-framework's own app), with
`shared.wiring` handing out the use cases on the in-memory adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import functions_framework
import pytest

from shared import wiring
from shared.settings import Settings
from tests.unit.onboarding_support import ALICE, APP, World, query_of, world

MAIN = Path(__file__).resolve().parents[2] / "main.py"
SETTINGS = Settings.from_env(
    {
        "GOOGLE_CLOUD_PROJECT": "unit",
        "DELEGATION_SERVICE_ACCOUNT": "sa@unit.iam.gserviceaccount.com",
    }
)


@pytest.fixture
def w(monkeypatch: pytest.MonkeyPatch) -> World:
    made = world()
    for name, value in (
        ("settings", SETTINGS),
        ("user_service", made.users),
        ("onboarding", made.flow),
    ):
        monkeypatch.setattr(wiring, name, lambda v=value: v)
    return made


def client(target: str) -> Any:
    app = functions_framework.create_app(target, str(MAIN))  # type: ignore[no-untyped-call]
    return app.test_client()


def test_users_registers_describes_and_disconnects(w: World) -> None:
    users = client("users")
    created = users.post("/users", json={"email": ALICE, "authMode": "delegation"})
    assert created.status_code == 201 and created.get_json()["status"] == "active"
    assert users.post("/users", json={"email": ALICE}).status_code == 200
    shown = users.get(f"/users/{ALICE}")
    assert shown.status_code == 200 and shown.get_json()["authMode"] == "delegation"
    gone = users.delete(f"/users/{ALICE}")
    assert gone.status_code == 200 and gone.get_json()["status"] == "disconnected"
    again = users.delete(f"/users/{ALICE}")
    assert again.status_code == 200 and again.get_json()["changed"] is False


def test_users_refusals_are_json_errors_with_googles_reason(w: World) -> None:
    users = client("users")
    w.oauth.delegation_refusals[ALICE] = "unauthorized_client"
    refused = users.post("/users", json={"email": ALICE})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["reason"] == "unauthorized_client"
    assert users.get("/users/nobody@example.com").status_code == 404
    assert users.get("/users/not-an-email").get_json()["error"]["field"] == "email"
    assert users.put(f"/users/{ALICE}").status_code == 405
    assert users.get("/users").status_code == 405
    assert users.get("/elsewhere").status_code == 404


def test_connect_redirects_to_google_with_an_http_only_lax_cookie(w: World) -> None:
    response = client("connect").get("/connect", query_string={"login_hint": ALICE})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://accounts.example.com/")
    cookie = response.headers["Set-Cookie"]
    for attribute in ("__Host-meetsync-connect=", "HttpOnly", "SameSite=Lax", "Path=/", "Secure"):
        assert attribute in cookie
    assert response.headers["Cache-Control"] == "no-store"


def _callback(w: World, connect: Any, **grant: Any) -> tuple[str, str]:
    started = connect.get("/connect", query_string=grant.pop("params", {}))
    params = query_of(started.headers["Location"])
    code = w.oauth.grant(
        ALICE, challenge=params["code_challenge"], redirect_uri=params["redirect_uri"], **grant
    )
    return params["state"], code


def test_the_callback_shows_a_success_page_and_spends_the_cookie(w: World) -> None:
    connect = client("connect")
    state, code = _callback(w, connect)
    page = connect.get("/oauth/callback", query_string={"state": state, "code": code})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'id="connected"' in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Max-Age=0" in page.headers["Set-Cookie"]
    assert w.store.users[ALICE].auth_mode == "refresh_token"


def test_the_callback_returns_to_an_allowed_address(w: World) -> None:
    connect = client("connect")
    state, code = _callback(w, connect, params={"return_to": APP})
    back = connect.get("/oauth/callback", query_string={"state": state, "code": code})
    assert back.status_code == 302 and back.headers["Location"] == APP


def test_failures_are_pages_for_browsers_and_json_when_asked(w: World) -> None:
    connect = client("connect")
    state, _ = _callback(w, connect)
    page = connect.get("/oauth/callback", query_string={"state": state, "error": "access_denied"})
    assert page.status_code == 403 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert 'id="reason">access_denied<' in text and "<script" not in text
    state, _ = _callback(w, connect)
    as_json = connect.get(
        "/oauth/callback",
        query_string={"state": state, "error": "access_denied"},
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 403 and as_json.get_json()["error"]["reason"] == "access_denied"
    evil = connect.get("/connect", query_string={"return_to": "https://evil.example.net/"})
    assert evil.status_code == 400 and "Location" not in evil.headers
    assert connect.post("/connect").status_code == 405
    assert connect.get("/elsewhere").status_code == 404
    assert w.store.users == {}


def test_an_error_page_escapes_what_it_shows(w: World) -> None:
    connect = client("connect")
    state, _ = _callback(w, connect)
    page = connect.get("/oauth/callback", query_string={"state": state, "error": "<script>x"})
    assert page.status_code == 400 and "<script>" not in page.get_data(as_text=True)
