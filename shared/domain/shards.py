"""Shards: how maintenance work on every calendar is split over many small invocations.

Each calendar and channel document carries `shard`, a stable hash of its calendar
key into `SHARDS` buckets. A maintenance run (renew, sweep) publishes one job per
shard; each job queries only its own shard (an equality filter, so every query
has an index), so no single invocation ever walks all calendars.
"""

from __future__ import annotations

import hashlib

SHARDS = 64
"""Fixed: stored on every document, so changing it needs the documents rewritten. 64 jobs
of 100,000 / 64 ≈ 1,600 calendars each keep every job well under a minute."""


def shard_of(calendar_key: str) -> int:
    """The calendar's shard (stable across processes, unlike `hash`)."""
    digest = hashlib.blake2b(calendar_key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % SHARDS
