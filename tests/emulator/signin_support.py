"""Drive the emulator's Google sign-in over HTTP as a browser would, without JavaScript.

`SignIn.consent` fetches the authorization URL and parses the consent page's form;
`ConsentPage.submit` builds what a browser posts when a button is clicked (hidden
fields, ticked checkboxes, the chosen radio, the clicked button), so the tests click
the same element ids a headless browser would.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import id_token as google_id_token

from tests.emulator.support import Harness

CLIENT_ID = "emulator-client.apps.googleusercontent.com"
CLIENT_SECRET = "emulator-client-secret"
REDIRECT = "http://127.0.0.1:8765/oauth2/callback"
AUTH = "https://www.googleapis.com/auth/"
CALENDAR = AUTH + "calendar"
MEET = AUTH + "meetings.space.created"
EMAIL = AUTH + "userinfo.email"


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Control:
    """One form control (input or button) of the consent page."""

    tag: str
    attrs: dict[str, str | None]

    def get(self, name: str) -> str:
        return self.attrs.get(name) or ""

    def has(self, name: str) -> bool:
        return name in self.attrs


@dataclass
class ConsentPage:
    status: int
    text: str
    action: str = ""
    controls: list[Control] = field(default_factory=list)

    def by_id(self, element_id: str) -> Control:
        found = [c for c in self.controls if c.get("id") == element_id]
        assert found, f"no control #{element_id} on the page"
        return found[0]

    def ids(self, prefix: str) -> list[str]:
        return [c.get("id") for c in self.controls if c.get("id").startswith(prefix)]

    def submit(
        self, button: str, *, pick: str | None = None, untick: tuple[str, ...] = ()
    ) -> list[tuple[str, str]]:
        """What a browser posts when #button is clicked after clicking radio #pick and
        unticking the checkboxes with ids in `untick`."""
        out: list[tuple[str, str]] = []
        for c in self.controls:
            kind, name = c.get("type") or "text", c.get("name")
            if not name or c.has("disabled") or c.tag == "button":
                continue
            if kind == "checkbox" and (not c.has("checked") or c.get("id") in untick):
                continue
            if kind == "radio" and not (
                c.get("id") == pick if pick is not None else c.has("checked")
            ):
                continue
            out.append((name, c.get("value")))
        clicked = self.by_id(button)
        out.append((clicked.get("name"), clicked.get("value")))
        return out


class _FormParser(HTMLParser):
    def __init__(self, page: ConsentPage) -> None:
        super().__init__()
        self.page = page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.page.action = values.get("action") or ""
        elif tag in ("input", "button"):
            self.page.controls.append(Control(tag, values))


def query_of(location: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


class SignIn:
    """The sign-in flow against one emulator."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.http = requests.Session()

    def auth_params(self, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": f"openid email {CALENDAR} {MEET}",
            "state": "csrf-" + secrets.token_hex(4),
            "access_type": "offline",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def get_auth(self, **overrides: str | None) -> requests.Response:
        url = f"{self.h.url}/o/oauth2/v2/auth?{urlencode(self.auth_params(**overrides))}"
        return self.http.get(url, allow_redirects=False, timeout=10)

    def consent(self, **overrides: str | None) -> ConsentPage:
        resp = self.get_auth(**overrides)
        assert resp.status_code == 200, (resp.status_code, resp.headers, resp.text[:500])
        assert resp.headers["Content-Type"].startswith("text/html")
        page = ConsentPage(resp.status_code, resp.text)
        _FormParser(page).feed(resp.text)
        return page

    def post(self, page: ConsentPage, fields: list[tuple[str, str]]) -> requests.Response:
        return self.http.post(
            self.h.url + page.action, data=fields, allow_redirects=False, timeout=10
        )

    def authorize(
        self,
        *,
        button: str = "allow",
        pick: str | None = None,
        untick: tuple[str, ...] = (),
        **overrides: str | None,
    ) -> dict[str, str]:
        """Consent page → click → the redirect's query (asserting it goes to redirect_uri)."""
        return self._authorize(self.auth_params(**overrides), button, pick, untick)

    def _authorize(
        self, params: dict[str, str], button: str, pick: str | None, untick: tuple[str, ...]
    ) -> dict[str, str]:
        page = self.consent(**params)
        resp = self.post(page, page.submit(button, pick=pick, untick=untick))
        assert resp.status_code == 302, (resp.status_code, resp.text[:500])
        location = resp.headers["Location"]
        assert location.startswith(params["redirect_uri"] + "?"), location
        return query_of(location)

    def exchange(self, code: str, **overrides: str | None) -> requests.Response:
        form: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT,
        }
        form.update(overrides)
        data = {k: v for k, v in form.items() if v is not None}
        return self.http.post(f"{self.h.url}/token", data=data, timeout=10)

    def tokens(self, *, untick: tuple[str, ...] = (), **overrides: str | None) -> dict[str, Any]:
        """Sign in (PKCE S256) and exchange the code: the token endpoint's answer."""
        verifier, challenge = pkce_pair()
        params = self.auth_params(**overrides)
        params.update(code_challenge=challenge, code_challenge_method="S256")
        redirect = self._authorize(params, "allow", None, untick)
        resp = self.exchange(redirect["code"], code_verifier=verifier)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def refresh(self, refresh_token: str, **overrides: str) -> requests.Response:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **overrides,
        }
        return self.http.post(f"{self.h.url}/token", data=data, timeout=10)

    def verify(self, token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
        """google-auth's verification against the emulator's published certificates."""
        claims = google_id_token.verify_token(
            token,
            AuthRequest(),
            audience=audience,
            certs_url=f"{self.h.url}/oauth2/v1/certs",
        )
        return dict(claims)
