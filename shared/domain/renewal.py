"""Channel renewal claims: pure decisions, applied by a conditional write.

Two renewal runs can overlap (a scheduler retry after a timeout, a redelivered
shard job). Each must open a replacement only for a channel it has claimed: the
claim is written on the condition that nobody claimed or replaced the channel
meanwhile, so exactly one run opens the replacement. A claim whose holder died
lapses after its hold, so the channel is renewed by a later run.
"""

from __future__ import annotations

import datetime as dt

from shared.domain.models import Channel, ChannelState


def claim(
    channel: Channel | None, *, claimant: str, now: dt.datetime, hold: dt.timedelta
) -> tuple[bool, Channel | None]:
    """(True, claimed channel) when `claimant` may open the replacement; (False, None)
    when the channel is gone, no longer active, replaced, or claimed by a live holder."""
    if channel is None or channel.state != ChannelState.ACTIVE or channel.replaced_by:
        return False, None
    held = (
        channel.renewal_claim
        and channel.renewal_claim != claimant
        and channel.renewal_claimed_until is not None
        and channel.renewal_claimed_until > now
    )
    if held:
        return False, None
    channel.renewal_claim = claimant
    channel.renewal_claimed_until = now + hold
    return True, channel


def replaced(
    channel: Channel | None, *, claimant: str, replacement: str, stop_after: dt.datetime
) -> tuple[bool, Channel | None]:
    """Record the replacement: only the claim's holder may, and only once. False means the
    claim was lost (it lapsed and another run took it): the caller stops its replacement."""
    if channel is None or channel.renewal_claim != claimant or channel.replaced_by:
        return False, None
    channel.state = ChannelState.STOPPING
    channel.replaced_by = replacement
    channel.stop_after = stop_after
    return True, channel


def release(channel: Channel | None, *, claimant: str) -> tuple[bool, Channel | None]:
    """Give a claim back after the replacement could not be opened (the next run retries)."""
    if channel is None or channel.renewal_claim != claimant or channel.replaced_by:
        return False, None
    channel.renewal_claim = ""
    channel.renewal_claimed_until = None
    return True, channel
