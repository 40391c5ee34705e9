"""The one wiring place: settings, clients and services, built once per instance.

Entry points call these accessors; nothing here runs at import time. Each
accessor is cached, so a warm instance reuses its Firestore, Pub/Sub and
Google API clients (and their connections) across requests.

Each accessor also imports what it builds, so a function's process loads only the
services and client libraries that function uses, and loads them on first use:
google-cloud-firestore, google-cloud-pubsub, google-api-python-client and
cryptography cost more to import than the whole server takes to start.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from shared import logs
from shared.domain.models import utcnow
from shared.settings import Settings

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.google.api import Apis
    from shared.google.credentials import (
        CredentialsProvider,
        DelegationProvider,
        StoredRefreshTokens,
    )
    from shared.google.oauth import GoogleOAuth
    from shared.google.workspace import (
        DirectoryAdapter,
        MeetAdapter,
        WorkspaceEventsAdapter,
    )
    from shared.services.audit import Auditor
    from shared.services.budget import BudgetedCalendar
    from shared.services.channels import ChannelService
    from shared.services.importer import Importer
    from shared.services.live import MeetEvents, SpaceHooks, Subscriptions
    from shared.services.maintenance import MaintenanceService
    from shared.services.meetings import MeetingService
    from shared.services.onboarding import Onboarding
    from shared.services.signals import SignalService, Sweeper
    from shared.services.sync import SyncService
    from shared.services.users import UserService
    from shared.services.worker import Worker
    from shared.store.firestore import Store
    from shared.store.pubsub import Publisher, TopicSink


_T = TypeVar("_T")
_building = threading.RLock()


def _once(build: Callable[[], _T]) -> Callable[[], _T]:
    """Build on first use, once per instance, under one lock: a function serving requests
    on several threads (the worker serves 8) would otherwise build some accessors twice on
    its first concurrent requests, and keep two credential caches (every user's token
    minted twice) and two Calendar budget buckets (twice its share of the budget)."""
    built: list[_T] = []

    @functools.wraps(build)
    def get() -> _T:
        if built:
            return built[0]
        with _building:  # re-entrant: an accessor builds the ones it needs
            if not built:
                built.append(build())
        return built[0]

    return get


CALENDAR_BUDGET_WAIT_SECONDS = 20.0
"""The longest a call waits for the budget before its work goes back to be retried (a
worker's message to Pub/Sub, a maintenance job to its next run, a request to its
client as 503): a third of the shortest timeout of a function that calls Calendar."""


@_once
def settings() -> Settings:
    s = Settings.from_env()
    logs.configure(s.log_level)
    return s


def firestore_client(project: str, database: str) -> firestore.Client:
    from google.cloud import firestore

    return firestore.Client(project=project, database=database)


@_once
def store() -> Store:
    from shared.store.firestore import Store

    s = settings()
    return Store(firestore_client(s.project, s.firestore_database))


@_once
def publisher() -> Publisher:
    from shared.store.pubsub import Publisher

    return Publisher(settings().project)


def delegation_provider(s: Settings) -> DelegationProvider | None:
    """Domain-wide delegation, when the deployment has a delegation service account."""
    from shared.google.credentials import DelegationProvider

    if not s.delegation_service_account:
        return None
    return DelegationProvider(
        service_account=s.delegation_service_account,
        token_uri=s.oauth_token_uri,
        iam_root=s.iam_credentials_root,
    )


@_once
def token_vault() -> StoredRefreshTokens | None:
    """Sealing of stored refresh tokens, when the deployment has an encryption key."""
    from shared.google.credentials import StoredRefreshTokens

    s = settings()
    return StoredRefreshTokens(store(), s.token_encryption_key) if s.token_encryption_key else None


def credentials_provider(
    s: Settings, store: Store, vault: StoredRefreshTokens | None
) -> CredentialsProvider:
    """Each user's credentials by their own auth mode (AUTH_MODE only for unknown users)."""
    from shared.google.credentials import UserCredentials

    return UserCredentials(
        users=store,
        default_mode=s.auth_mode,
        delegation=delegation_provider(s),
        vault=vault,
        token_uri=s.oauth_token_uri,
        client_id=s.oauth_client_id,
        client_secret=s.oauth_client_secret,
    )


@_once
def apis() -> Apis:
    from shared.google.api import Apis, Backoff

    s = settings()
    return Apis(
        calendar_root=s.calendar_api_root,
        meet_root=s.meet_api_root,
        credentials=credentials_provider(s, store(), token_vault()),
        backoff=Backoff(retries=s.api_retries),
        events_root=s.workspace_events_api_root,
        directory_root=s.directory_api_root,
    )


@_once
def calendar() -> BudgetedCalendar:
    """Calendar, every call counted against this instance's share of the project budget
    (`shared.services.budget`)."""
    from shared.google.workspace import CalendarAdapter
    from shared.services.budget import BURST, BudgetedCalendar, TokenBucket

    s = settings()
    rate = s.calendar_budget_per_min / s.calendar_budget_instances
    bucket = TokenBucket(rate, burst=max(rate / 60, BURST))
    return BudgetedCalendar(
        CalendarAdapter(apis()), bucket, max_wait_seconds=CALENDAR_BUDGET_WAIT_SECONDS
    )


@_once
def meet() -> MeetAdapter:
    from shared.google.workspace import MeetAdapter

    return MeetAdapter(apis())


@_once
def workspace_events() -> WorkspaceEventsAdapter:
    from shared.google.workspace import WorkspaceEventsAdapter

    return WorkspaceEventsAdapter(apis())


@_once
def directory() -> DirectoryAdapter:
    from shared.google.workspace import DirectoryAdapter

    return DirectoryAdapter(apis())


@_once
def subscriptions() -> Subscriptions:
    """One Workspace Events subscription per meeting space (`shared.services.live`)."""
    from shared.services.live import Subscriptions

    s = settings()
    return Subscriptions(
        events=workspace_events(),
        store=store(),
        topic=f"projects/{s.project}/topics/{s.workspace_events_topic}",
    )


@_once
def space_hooks() -> SpaceHooks:
    from shared.services.live import SpaceHooks

    return SpaceHooks(subscriptions())


@_once
def meet_events() -> MeetEvents:
    from shared.services.live import MeetEvents

    return MeetEvents(
        store=store(),
        meet=meet(),
        directory=directory(),
        subscriptions=subscriptions(),
        sink=meeting_events(),
        source=event_source(),
    )


@_once
def meeting_events() -> TopicSink:
    from shared.store.pubsub import TopicSink

    return TopicSink(publisher(), settings().meeting_events_topic)


@_once
def sync_service() -> SyncService:
    from shared.services.sync import SyncConfig, SyncService

    s = settings()
    return SyncService(
        store=store(),
        calendar=calendar(),
        meet=meet(),
        sink=meeting_events(),
        spaces=space_hooks(),
        config=SyncConfig(
            lease_seconds=s.lease_seconds,
            full_sync_days=s.full_sync_days,
            source=f"//meetsync.{s.project}/meetings",
            settle_seconds=s.sync_settle_seconds,
            sweep_age_seconds=s.sweep_age_seconds,
            audit_hours=s.audit_hours,
        ),
    )


@_once
def signal_service() -> SignalService:
    from shared.services.signals import ChannelCache, SignalService

    cache = ChannelCache(store().get_channel, ttl=settings().channel_cache_seconds)
    return SignalService(
        get_channel=cache.get,
        publisher=publisher(),
        topic=settings().changes_topic,
    )


@_once
def worker() -> Worker:
    from shared.services.worker import Worker

    return Worker(
        sync=sync_service(),
        failures=store(),
        max_age_seconds=settings().max_message_age_seconds,
        on_unreachable=lambda key, error: channel_service().mark_unreachable(key, error),
    )


@_once
def channel_service() -> ChannelService:
    from shared.services.channels import ChannelConfig, ChannelService

    s = settings()

    def initial_sync(key: str) -> object:
        return sync_service().sync(key, owner=f"watch-{uuid.uuid4().hex}")

    return ChannelService(
        store=store(),
        calendar=calendar(),
        config=ChannelConfig(
            webhook_url=s.webhook_url,
            ttl_seconds=s.channel_ttl_seconds,
            renew_window_seconds=s.renew_window_seconds,
            overlap_seconds=s.channel_overlap_seconds,
        ),
        initial_sync=initial_sync,
        sink=meeting_events(),
        source=event_source(),
    )


@_once
def sweeper() -> Sweeper:
    from shared.services.signals import Sweeper

    return Sweeper(calendars=store(), signals=signal_service(), now=utcnow)


@_once
def maintenance() -> MaintenanceService:
    from shared.services.maintenance import MaintenanceService

    s = settings()
    return MaintenanceService(
        publisher=publisher(),
        topic=s.maintenance_topic,
        channels=channel_service(),
        sweeper=sweeper(),
        runs=store(),
        sweep_age_seconds=s.sweep_age_seconds,
        now=utcnow,
        completer=meetings(),
        auditor=auditor(),
        outcomes=meet_events(),
    )


@_once
def auditor() -> Auditor:
    """The `audit` maintenance kind: its Calendar reads go through the budgeted calendar."""
    from shared.services.audit import Auditor
    from shared.services.decisions import ConferenceActions

    s = settings()
    period = dt.timedelta(hours=s.audit_hours)
    actions = ConferenceActions(
        calendar=calendar(),
        meet=meet(),
        store=store(),
        sink=meeting_events(),
        source=event_source(),
        now=utcnow,
        spaces=space_hooks(),
        audit_period=period,
    )
    return Auditor(
        store=store(),
        calendar=calendar(),
        actions=actions,
        period=period,
        window=dt.timedelta(days=s.full_sync_days),
        now=utcnow,
    )


def event_source(s: Settings | None = None) -> str:
    """CloudEvents `source` of everything this deployment emits."""
    return f"//meetsync.{(s or settings()).project}/meetings"


@_once
def meetings() -> MeetingService:
    from shared.services.meetings import MeetingService

    s = settings()
    return MeetingService(
        calendar=calendar(),
        meet=meet(),
        store=store(),
        events=meeting_events(),
        source=event_source(),
        wait_seconds=s.conference_wait_seconds,
        spaces=space_hooks(),
        jobs=publisher(),
        jobs_topic=s.maintenance_topic,
    )


@_once
def importer() -> Importer:
    from shared.services.importer import Importer

    return Importer(
        calendar=calendar(), store=store(), sink=meeting_events(), source=event_source()
    )


if TYPE_CHECKING:
    from shared.domain.imports import ImportItem


def parse_ics(raw: bytes) -> list[ImportItem]:
    """The events of an uploaded .ics file, or a Refusal saying where it is malformed.
    `shared.ics` is imported here, on the first import request: icalendar is slow to import."""
    from shared import ics

    return ics.parse_ics(raw)


@_once
def oauth() -> GoogleOAuth:
    from shared.google.oauth import GoogleOAuth

    s = settings()
    return GoogleOAuth(
        token_uri=s.oauth_token_uri,
        revoke_uri=s.oauth_revoke_uri,
        certs_uri=s.oauth_certs_uri,
        client_id=s.oauth_client_id,
        client_secret=s.oauth_client_secret,
        delegation=delegation_provider(s),
    )


@_once
def user_service() -> UserService:
    from shared.services.users import UserService

    s = settings()
    return UserService(
        store=store(),
        oauth=oauth(),
        channels=channel_service(),
        sink=meeting_events(),
        vault=token_vault(),
        source=event_source(),
        default_mode=s.auth_mode,
        spaces=subscriptions(),
    )


@_once
def onboarding() -> Onboarding:
    from shared.domain.signin import StateCodec
    from shared.services.onboarding import ConnectConfig, Onboarding

    s = settings()
    return Onboarding(
        config=ConnectConfig(
            client_id=s.oauth_client_id,
            auth_uri=s.oauth_auth_uri,
            redirect_uri=s.oauth_redirect_uri,
            return_to_allowlist=s.return_to_allowlist,
            watch_primary=s.connect_watches_primary,
        ),
        codec=(
            StateCodec(s.state_signing_key, s.connect_state_ttl_seconds)
            if s.state_signing_key
            else None
        ),
        states=store(),
        oauth=oauth(),
        vault=token_vault(),
        users=user_service(),
    )
