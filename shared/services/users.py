"""Users of the product: who may act, and what happens when Google revokes a grant.

Every use case that acts for a user checks here that the user is registered and
active, so an unknown user and a revoked grant are refused the same way
everywhere (`FORBIDDEN` and `CONFLICT`, naming the request field).
"""

from __future__ import annotations

from shared import logs
from shared.domain.models import User, UserStatus
from shared.domain.ports import UserStore
from shared.domain.refusals import Kind, Refusal

_log = logs.get(__name__)


def active_user(store: UserStore, email: str, field: str) -> User:
    """The registered, active user `email`, or a refusal naming `field`."""
    user = store.get_user(email)
    if user is None:
        raise Refusal(Kind.FORBIDDEN, f"{email} is not a user of this product", field)
    if user.status == UserStatus.AUTH_REVOKED:
        raise Refusal(
            Kind.CONFLICT,
            f"authorization of {email} was revoked: the user must re-authorize",
            field,
        )
    if user.status != UserStatus.ACTIVE:
        raise Refusal(Kind.FORBIDDEN, f"{email} is not an active user of this product", field)
    return user


def mark_revoked(store: UserStore, email: str) -> None:
    """Google answered invalid_grant: the user must re-authorize. Best effort: the caller's
    answer matters more than this bookkeeping."""
    _log.warning("user authorization revoked", extra={"user": email})
    try:
        store.set_user_status(email, UserStatus.AUTH_REVOKED)
    except Exception:
        _log.exception("could not mark user auth_revoked")
