"""A browser without JavaScript for the connect flow: `make demo` and the tests use it to
connect a user over plain HTTP.

It keeps cookies (the connect flow's state cookie), follows the redirects by hand so
each hop can be inspected or tampered with, and clicks the workspace emulator's consent
page the way a browser submits a form: hidden fields, ticked checkboxes, the button
clicked, found by the element ids a headless browser would click.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from devstack.stack import Stack


@dataclass
class ConsentPage:
    """The emulator's consent form: its action and controls (tag, attributes)."""

    url: str
    action: str = ""
    controls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def submit(self, button: str, *, untick: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The form fields a browser posts when #button is clicked, after unticking the
        checkboxes with ids in `untick`."""
        out: list[tuple[str, str]] = []
        for tag, attrs in self.controls:
            name, kind = attrs.get("name", ""), attrs.get("type", "text")
            if not name or tag == "button" or "disabled" in attrs:
                continue
            if kind in ("checkbox", "radio") and (
                "checked" not in attrs or attrs.get("id") in untick
            ):
                continue
            out.append((name, attrs.get("value", "")))
        clicked = next(a for t, a in self.controls if t == "button" and a.get("id") == button)
        out.append((clicked["name"], clicked["value"]))
        return out


class _FormParser(HTMLParser):
    def __init__(self, page: ConsentPage) -> None:
        super().__init__()
        self.page = page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.page.action = values.get("action", "")
        elif tag in ("input", "button"):
            self.page.controls.append((tag, values))


def read_consent(http: requests.Session, auth_url: str) -> ConsentPage:
    """Open Google's (the emulator's) consent screen and read its form."""
    response = http.get(auth_url, headers={"Accept": "text/html"}, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    page = ConsentPage(auth_url)
    _FormParser(page).feed(response.text)
    return page


def click(
    http: requests.Session, page: ConsentPage, button: str, *, untick: tuple[str, ...] = ()
) -> str:
    """Click Allow or Deny: where Google redirects the browser (the callback URL)."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    response = http.post(
        origin + page.action,
        data=page.submit(button, untick=untick),
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return str(response.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str | None) -> str:
    """`url` with query parameters replaced (None removes one): a user editing the URL."""
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    kept = urlencode({k: v for k, v in query.items() if v is not None})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, kept, ""))


class Browser:
    """One browser: its own cookie jar."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()

    def get(self, url: str, *, json: bool = False) -> requests.Response:
        headers = {"Accept": "application/json"} if json else {"Accept": "text/html"}
        return self.http.get(url, headers=headers, allow_redirects=False, timeout=60)

    def start(self, **params: str) -> requests.Response:
        """`GET /connect`: a 302 to Google's consent screen; the state cookie is kept."""
        url = f"{self.stack.function_urls['connect']}/connect"
        return self.get(f"{url}?{urlencode(params)}" if params else url)

    def authorize(self, **params: str) -> str:
        """The consent screen's URL for a new sign-in (asserting /connect sent us there)."""
        response = self.start(**params)
        assert response.status_code == 302, (response.status_code, response.text[:300])
        return str(response.headers["Location"])

    def consent(self, auth_url: str) -> ConsentPage:
        return read_consent(self.http, auth_url)

    def click(self, page: ConsentPage, button: str, *, untick: tuple[str, ...] = ()) -> str:
        return click(self.http, page, button, untick=untick)

    def sign_in(self, button: str = "allow", *, untick: tuple[str, ...] = (), **params: str) -> str:
        """/connect, then the consent screen, then the click: the callback URL, not yet
        visited (so a test may replay, tamper with or hand it to another browser)."""
        return self.click(self.consent(self.authorize(**params)), button, untick=untick)

    def connect(self, email: str, button: str = "allow", *, json: bool = True) -> Any:
        """The whole flow for `email`; the callback's answer (JSON unless told otherwise)."""
        response = self.get(self.sign_in(button, login_hint=email), json=json)
        return response.json() if json else response
