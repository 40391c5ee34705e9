"""The one wiring place: settings, clients and services, built once per instance.

Entry points call these accessors; nothing here runs at import time. Each
accessor is cached, so a warm instance reuses its Firestore, Pub/Sub and
Google API clients (and their connections) across requests.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet
from google.cloud import firestore

from shared import logs
from shared.google.api import Apis, Backoff
from shared.google.credentials import CredentialsProvider, DelegationProvider, RefreshTokenProvider
from shared.settings import Settings
from shared.store.firestore import Store
from shared.store.pubsub import Publisher


@functools.cache
def settings() -> Settings:
    s = Settings.from_env()
    logs.configure(s.log_level)
    return s


def firestore_client(project: str, database: str) -> firestore.Client:
    return firestore.Client(project=project, database=database)


@functools.cache
def store() -> Store:
    s = settings()
    return Store(firestore_client(s.project, s.firestore_database))


@functools.cache
def publisher() -> Publisher:
    return Publisher(settings().project)


def credentials_provider(s: Settings, store: Store) -> CredentialsProvider:
    if s.auth_mode == "delegation":
        return DelegationProvider(
            service_account=s.delegation_service_account,
            token_uri=s.oauth_token_uri,
            iam_root=s.iam_credentials_root,
        )
    fernet = Fernet(s.token_encryption_key.encode())

    def lookup(email: str) -> str | None:
        user = store.get_user(email)
        if user is None or not user.refresh_token_enc:
            return None
        return fernet.decrypt(user.refresh_token_enc.encode()).decode()

    return RefreshTokenProvider(
        token_uri=s.oauth_token_uri,
        client_id=s.oauth_client_id,
        client_secret=s.oauth_client_secret,
        lookup=lookup,
    )


@functools.cache
def apis() -> Apis:
    s = settings()
    return Apis(
        calendar_root=s.calendar_api_root,
        meet_root=s.meet_api_root,
        credentials=credentials_provider(s, store()),
        backoff=Backoff(retries=s.api_retries),
    )
