"""Calendar v3 and Meet v2 clients on google-api-python-client, and the one call path.

The discovery documents shipped inside the library are parsed once per
instance (`build` with `static_discovery=True`), and the API roots come from
settings, so the same code talks to Google or to the local emulator. Every
call goes through `Apis.execute`, which authorises it as one user, retries
transient failures and rate limits with full-jitter exponential backoff, and
turns every failure into a typed `shared.domain.errors` exception.

google-api-python-client, httplib2 and google-auth are imported on first use (the
first built client or executed call), not with this module.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared import logs
from shared.domain.errors import ApiError, AuthRevokedError, TransientError
from shared.google.errors import from_response

if TYPE_CHECKING:
    import google.auth.exceptions
    import httplib2
    from googleapiclient.http import HttpRequest

    from shared.google.credentials import CredentialsProvider

_log = logs.get(__name__)
_HTTP_TIMEOUT = 30.0


class Backoff:
    """Full-jitter exponential backoff: sleep U(0, min(cap, base * 2**attempt))."""

    def __init__(
        self,
        *,
        retries: int,
        base: float = 0.5,
        cap: float = 16.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.retries = retries
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng or random.Random()

    def wait(self, attempt: int) -> None:
        self._sleep(self._rng.uniform(0, min(self.cap, self.base * 2**attempt)))


class Apis:
    """Built API clients plus an authorised, retrying executor; one per instance."""

    def __init__(
        self,
        *,
        calendar_root: str,
        meet_root: str,
        credentials: CredentialsProvider,
        backoff: Backoff,
        events_root: str = "https://workspaceevents.googleapis.com/",
        directory_root: str = "https://admin.googleapis.com/",
    ) -> None:
        self._calendar_root = calendar_root
        self._meet_root = meet_root
        self._events_root = events_root
        self._directory_root = directory_root
        self._credentials = credentials
        self.backoff = backoff
        self._local = threading.local()

    @cached_property
    def calendar(self) -> Any:
        """The Calendar v3 resource (requests are executed through `execute`)."""
        import httplib2
        from googleapiclient.discovery import build

        endpoint = urllib.parse.urljoin(self._calendar_root, "calendar/v3/")
        return build(
            "calendar",
            "v3",
            static_discovery=True,
            http=httplib2.Http(),
            client_options={"api_endpoint": endpoint},
        )

    @cached_property
    def meet(self) -> Any:
        """The Meet v2 resource."""
        import httplib2
        from googleapiclient.discovery import build

        return build(
            "meet",
            "v2",
            static_discovery=True,
            http=httplib2.Http(),
            client_options={"api_endpoint": self._meet_root},
        )

    @cached_property
    def workspace_events(self) -> Any:
        """The Google Workspace Events v1 resource (Meet subscriptions)."""
        import httplib2
        from googleapiclient.discovery import build

        return build(
            "workspaceevents",
            "v1",
            static_discovery=True,
            http=httplib2.Http(),
            client_options={"api_endpoint": self._events_root},
        )

    @cached_property
    def directory(self) -> Any:
        """The Admin SDK Directory v1 resource (naming Meet participants)."""
        import httplib2
        from googleapiclient.discovery import build

        return build(
            "admin",
            "directory_v1",
            static_discovery=True,
            http=httplib2.Http(),
            client_options={"api_endpoint": self._directory_root},
        )

    def _http(self) -> httplib2.Http:
        """httplib2 is not thread-safe: one connection pool per thread."""
        http: httplib2.Http | None = getattr(self._local, "http", None)
        if http is None:
            import httplib2

            http = self._local.http = httplib2.Http(timeout=_HTTP_TIMEOUT)
        return http

    def execute(self, request: HttpRequest, *, user: str, what: str) -> Any:
        """Run `request` as `user`; retry what is retryable; raise typed errors."""
        import google.auth.exceptions
        import google_auth_httplib2
        import httplib2
        from googleapiclient.errors import HttpError

        authed = google_auth_httplib2.AuthorizedHttp(
            self._credentials.for_user(user), http=self._http()
        )
        attempt = 0
        while True:
            try:
                return request.execute(http=authed, num_retries=0)
            except ApiError as exc:  # raised by a credentials provider
                error: ApiError = exc
            except HttpError as exc:
                error = from_response(exc.resp.status, exc.content, what=what)
            except google.auth.exceptions.RefreshError as exc:
                error = _refresh_error(exc, what)
            except (OSError, httplib2.HttpLib2Error) as exc:
                error = TransientError(f"{what}: {type(exc).__name__}: {exc}")
            fields = {
                "api": what.split(".", 1)[0],
                "call": what,
                "status": error.status,
                "reason": error.reason or type(error).__name__,
                "attempt": attempt + 1,
                "error": str(error),
            }
            if not error.retryable or attempt >= self.backoff.retries:
                # the caller decides whether it matters (a 404 or 412 is often expected)
                _log.info("Google API call failed", extra=fields)
                raise error
            _log.warning("retrying Google API call", extra=fields)
            self.backoff.wait(attempt)
            attempt += 1


def _refresh_error(exc: google.auth.exceptions.RefreshError, what: str) -> ApiError:
    """invalid_grant means the user's authorization is gone; anything else may pass."""
    text = str(exc)
    if "invalid_grant" in text:
        return AuthRevokedError(
            f"{what}: authorization revoked", status=400, reason="invalid_grant"
        )
    if getattr(exc, "retryable", False):
        return TransientError(f"{what}: token refresh failed: {text}")
    return AuthRevokedError(f"{what}: token refresh failed: {text}", status=401)
