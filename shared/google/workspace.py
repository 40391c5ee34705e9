"""Calendar v3 and Meet v2 adapters: the ports of `shared.domain.ports` over `Apis`.

Each method builds one request with google-api-python-client and runs it
through `Apis.execute` (auth, retries, typed errors). `conferenceDataVersion=1`
is sent on every event write, so conference data is never silently dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.domain import event as event_
from shared.domain.errors import ApiError, DuplicateError, TransientError
from shared.domain.ports import EventPage, Json
from shared.google.errors import from_response

if TYPE_CHECKING:
    from shared.google.api import Apis


_GRPC_HTTP = {3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 13: 500, 14: 503, 16: 401}


def _operation_error(status: Json, what: str) -> ApiError:
    """A failed long-running operation's `google.rpc.Status` as the typed error its HTTP
    answer would have been."""
    code = _GRPC_HTTP.get(int(status.get("code", 13)), 500)
    body = json.dumps({"error": {"code": code, "message": str(status.get("message", ""))}})
    return from_response(code, body, what=what)


def _pages(apis: Apis, method: Any, user: str, what: str, key: str, **params: Any) -> list[Json]:
    """Every item of a paged Meet or Workspace Events list."""
    items: list[Json] = []
    token: str | None = None
    while True:
        page = apis.execute(
            method(**params, **({"pageToken": token} if token else {})), user=user, what=what
        )
        items += list(page.get(key, []))
        token = page.get("nextPageToken")
        if not token:
            return items


class CalendarAdapter:
    def __init__(self, apis: Apis) -> None:
        self._apis = apis

    @cached_property
    def _events(self) -> Any:
        """The `events` resource, built once: googleapiclient builds its methods from the
        discovery document on every `events()` call (about 12 ms)."""
        return self._apis.calendar.events()

    def _run(self, request: Any, user: str, what: str) -> Any:
        return self._apis.execute(request, user=user, what=what)

    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage:
        params: dict[str, Any] = {
            "calendarId": calendar_id,
            "maxResults": max_results,
            "fields": event_.LIST_FIELDS,
        }
        if sync_token:
            params["syncToken"] = sync_token
        elif time_min:
            params["timeMin"] = time_min
        if page_token:
            params["pageToken"] = page_token
        data = self._run(self._events.list(**params), user, "calendar.events.list")
        return EventPage(
            items=list(data.get("items", [])),
            next_page_token=data.get("nextPageToken"),
            next_sync_token=data.get("nextSyncToken"),
            access_role=str(data.get("accessRole", "")),
        )

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        request = self._events.get(calendarId=calendar_id, eventId=event_id)
        return dict(self._run(request, user, "calendar.events.get"))

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json:
        request = self._events.insert(
            calendarId=calendar_id, body=body, conferenceDataVersion=1, sendUpdates=send_updates
        )
        return dict(self._run(request, user, "calendar.events.insert"))

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        request = self._events.patch(
            calendarId=calendar_id, eventId=event_id, body=body, conferenceDataVersion=1
        )
        request.headers["If-Match"] = etag
        return dict(self._run(request, user, "calendar.events.patch"))

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None:
        request = self._events.delete(
            calendarId=calendar_id, eventId=event_id, sendUpdates=send_updates
        )
        self._run(request, user, "calendar.events.delete")

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        request = self._events.import_(calendarId=calendar_id, body=body, conferenceDataVersion=1)
        return dict(self._run(request, user, "calendar.events.import"))

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        request = self._events.list(calendarId=calendar_id, iCalUID=ical_uid, showDeleted=True)
        return list(self._run(request, user, "calendar.events.list").get("items", []))

    def watch(
        self,
        user: str,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> Json:
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},
        }
        request = self._events.watch(calendarId=calendar_id, body=body)
        return dict(self._run(request, user, "calendar.events.watch"))

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None:
        request = self._apis.calendar.channels().stop(
            body={"id": channel_id, "resourceId": resource_id}
        )
        self._run(request, user, "calendar.channels.stop")


class MeetAdapter:
    def __init__(self, apis: Apis) -> None:
        self._apis = apis

    def create_space(self, user: str, config: Json) -> Json:
        request = self._apis.meet.spaces().create(body={"config": config} if config else {})
        return dict(self._apis.execute(request, user=user, what="meet.spaces.create"))

    def get_space(self, user: str, name: str) -> Json:
        request = self._apis.meet.spaces().get(name=name)
        return dict(self._apis.execute(request, user=user, what="meet.spaces.get"))

    def patch_space(self, user: str, name: str, config: Json, update_mask: Iterable[str]) -> Json:
        request = self._apis.meet.spaces().patch(
            name=name, updateMask=",".join(update_mask), body={"config": config}
        )
        return dict(self._apis.execute(request, user=user, what="meet.spaces.patch"))

    def end_active_conference(self, user: str, name: str) -> None:
        request = self._apis.meet.spaces().endActiveConference(name=name, body={})
        self._apis.execute(request, user=user, what="meet.spaces.endActiveConference")

    @cached_property
    def _records(self) -> Any:
        return self._apis.meet.conferenceRecords()

    @cached_property
    def _participants(self) -> Any:
        return self._records.participants()

    def get_conference_record(self, user: str, name: str) -> Json:
        request = self._records.get(name=name)
        return dict(self._apis.execute(request, user=user, what="meet.conferenceRecords.get"))

    def list_conference_records(self, user: str, space: str) -> list[Json]:
        return _pages(
            self._apis, self._records.list, user, "meet.conferenceRecords.list",
            "conferenceRecords", filter=f'space.name = "{space}"', pageSize=100,
        )  # fmt: skip

    def list_participants(self, user: str, record: str) -> list[Json]:
        return _pages(
            self._apis, self._participants.list, user, "meet.participants.list",
            "participants", parent=record, pageSize=250,
        )  # fmt: skip

    def list_participant_sessions(self, user: str, participant: str) -> list[Json]:
        return _pages(
            self._apis, self._participants.participantSessions().list, user,
            "meet.participantSessions.list", "participantSessions", parent=participant,
            pageSize=250,
        )  # fmt: skip

    def list_recordings(self, user: str, record: str) -> list[Json]:
        return _pages(
            self._apis, self._records.recordings().list, user, "meet.recordings.list",
            "recordings", parent=record, pageSize=100,
        )  # fmt: skip

    def list_transcripts(self, user: str, record: str) -> list[Json]:
        return _pages(
            self._apis, self._records.transcripts().list, user, "meet.transcripts.list",
            "transcripts", parent=record, pageSize=100,
        )  # fmt: skip


class DirectoryAdapter:
    """Admin SDK Directory `users.get` (`viewType=domain_public`: any user may ask)."""

    def __init__(self, apis: Apis) -> None:
        self._apis = apis

    def user_email(self, acting_user: str, user_id: str) -> str | None:
        request = self._apis.directory.users().get(userKey=user_id, viewType="domain_public")
        found = self._apis.execute(request, user=acting_user, what="directory.users.get")
        email = found.get("primaryEmail")
        return str(email) if email else None


class WorkspaceEventsAdapter:
    """Workspace Events v1 subscriptions. Writes answer a long-running operation; Google's
    are usually done at once, and are polled briefly otherwise."""

    OPERATION_POLLS = 10
    OPERATION_POLL_SECONDS = 0.2

    def __init__(self, apis: Apis, sleep: Callable[[float], None] = time.sleep) -> None:
        self._apis = apis
        self._sleep = sleep

    @cached_property
    def _subscriptions(self) -> Any:
        return self._apis.workspace_events.subscriptions()

    def _operation(self, user: str, operation: Json, what: str) -> Json:
        for _ in range(self.OPERATION_POLLS):
            if operation.get("done"):
                if "error" in operation:
                    raise _operation_error(operation["error"], what)
                return dict(operation.get("response") or {})
            self._sleep(self.OPERATION_POLL_SECONDS)
            request = self._apis.workspace_events.operations().get(name=operation["name"])
            operation = self._apis.execute(
                request, user=user, what="workspaceevents.operations.get"
            )
        raise TransientError(f"{what}: operation {operation.get('name')} not done yet")

    def create_subscription(
        self, user: str, *, target: str, event_types: Iterable[str], topic: str
    ) -> Json:
        types = list(event_types)
        body = {
            "targetResource": target,
            "eventTypes": types,
            "notificationEndpoint": {"pubsubTopic": topic},
            "ttl": "0s",  # the maximum
        }
        what = "workspaceevents.subscriptions.create"
        try:
            operation = self._apis.execute(
                self._subscriptions.create(body=body), user=user, what=what
            )
        except DuplicateError:  # one per target and app: the existing one is ours
            existing = self._find(user, target, types[0])
            if existing is None:
                raise
            return existing
        return self._operation(user, operation, what)

    def _find(self, user: str, target: str, event_type: str) -> Json | None:
        found = _pages(
            self._apis, self._subscriptions.list, user, "workspaceevents.subscriptions.list",
            "subscriptions", filter=f'event_types:"{event_type}" AND target_resource="{target}"',
        )  # fmt: skip
        return found[0] if found else None

    def get_subscription(self, user: str, name: str) -> Json:
        request = self._subscriptions.get(name=name)
        return dict(
            self._apis.execute(request, user=user, what="workspaceevents.subscriptions.get")
        )

    def renew_subscription(self, user: str, name: str) -> Json:
        what = "workspaceevents.subscriptions.patch"
        request = self._subscriptions.patch(name=name, updateMask="ttl", body={"ttl": "0s"})
        return self._operation(user, self._apis.execute(request, user=user, what=what), what)

    def reactivate_subscription(self, user: str, name: str) -> Json:
        what = "workspaceevents.subscriptions.reactivate"
        request = self._subscriptions.reactivate(name=name, body={})
        return self._operation(user, self._apis.execute(request, user=user, what=what), what)

    def delete_subscription(self, user: str, name: str) -> None:
        what = "workspaceevents.subscriptions.delete"
        request = self._subscriptions.delete(name=name, allowMissing=True)
        self._operation(user, self._apis.execute(request, user=user, what=what), what)
