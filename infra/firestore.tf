# Firestore (native mode). Collections: users, calendars, channels, meetings,
# connect_states (one per used sign-in state, for single use; purged by TTL), runs (a
# report per renew or sweep dispatch and per shard job) and delivery_failures (why the
# worker failed on a change signal, for the dead-letter view); the last three purged by
# TTL. Meetings need no composite index: their queries are equality filters (merged
# from single-field indexes) or one range ordered on the same field.
resource "google_firestore_database" "main" {
  count = var.create_firestore_database ? 1 : 0

  name                              = var.firestore_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Every calendar and channel carries `shard` (shared/domain/shards.py); each maintenance
# job queries its own shard only, so these indexes lead with it. Firestore serves
# equality filters on several fields plus a range/order on one from a composite index
# with the equality fields first.

# Renewal, first stage: a shard's live channels that expire within the renewal window,
# soonest first (shard == N AND state == "active" AND expiration <= window ORDER BY
# expiration). Replaces (state, expiration), which queried every shard at once.
resource "google_firestore_index" "channels_shard_state_expiration" {
  database   = var.firestore_database
  collection = "channels"

  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "expiration"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# Renewal, stop stage: a shard's replaced channels whose overlap has ended (shard == N
# AND state == "stopping" AND stop_after <= now ORDER BY stop_after).
resource "google_firestore_index" "channels_shard_state_stop_after" {
  database   = var.firestore_database
  collection = "channels"

  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "stop_after"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# The sweep: a shard's watched calendars past their next sweep, oldest first (shard == N
# AND status == "watching" AND next_sweep_at <= now ORDER BY next_sweep_at). Replaces
# (status, next_sweep_at). next_sweep_at is the one time field of a calendar that stays
# indexed; a sync moves it once (with its lease release), and the shard prefix spreads
# this index's writes over 64 ranges.
resource "google_firestore_index" "calendars_shard_status_next_sweep" {
  database   = var.firestore_database
  collection = "calendars"

  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "next_sweep_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# The audit, per shard: meetings whose next audit is due (shard == N AND next_audit_at <=
# now ORDER BY next_audit_at); each audit moves next_audit_at by AUDIT_HOURS (spread by
# jitter), and the shard prefix spreads the index's writes over 64 ranges.
resource "google_firestore_index" "meetings_shard_next_audit" {
  database   = var.firestore_database
  collection = "meetings"

  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  fields {
    field_path = "next_audit_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# The sweep's outcome checks, per shard: meetings whose conference records are due a read
# (shard == N AND outcome_check_at <= now ORDER BY outcome_check_at): what happened in a
# space before it was subscribed, and after its scheduled end what no event told us.
resource "google_firestore_index" "meetings_shard_outcome_check" {
  database   = var.firestore_database
  collection = "meetings"

  fields {
    field_path = "shard"
    order      = "ASCENDING"
  }
  fields {
    field_path = "outcome_check_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# The sweep's pickup of pending meetings whose completion job was lost (status ==
# "pending" AND created_at <= now - 10 min ORDER BY created_at); creates are few (Meet
# allows 100 spaces/min per project), so the rising created_at costs nothing here.
resource "google_firestore_index" "meetings_status_created" {
  database   = var.firestore_database
  collection = "meetings"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# The last run of a kind (renew, sweep): `meetsync status`.
resource "google_firestore_index" "runs_kind_started" {
  database   = var.firestore_database
  collection = "runs"

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }
  fields {
    field_path = "started_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# Stopped channels and finished meetings are deleted once their purge_at passes.
resource "google_firestore_field" "channels_purge_at" {
  database   = var.firestore_database
  collection = "channels"
  field      = "purge_at"

  ttl_config {}
  # A TTL timestamp is never queried: no single-field index for it.
  index_config {}

  depends_on = [google_firestore_database.main]
}

resource "google_firestore_field" "connect_states_purge_at" {
  database   = var.firestore_database
  collection = "connect_states"
  field      = "purge_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_database.main]
}

resource "google_firestore_field" "meetings_purge_at" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "purge_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_database.main]
}

# Pending announcements (the transactional outbox) are read with their record and never
# queried; `announce_pending` is the queryable flag. Not indexing them keeps a status
# change to its own document's index entries.
resource "google_firestore_field" "meetings_outbox" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "outbox"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Run reports and recorded delivery failures are kept for a while, then deleted.
resource "google_firestore_field" "runs_purge_at" {
  database   = var.firestore_database
  collection = "runs"
  field      = "purge_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_database.main]
}

resource "google_firestore_field" "delivery_failures_purge_at" {
  database   = var.firestore_database
  collection = "delivery_failures"
  field      = "purge_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_database.main]
}

# The announcement history (`Meeting.announced`) is read with its record, never queried.
resource "google_firestore_field" "meetings_announced" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "announced"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Meet conference summaries (`Meeting.conferences`: participants, sessions, artifacts) are
# read with their record, never queried: not indexed, so a busy meeting's every update
# does not rewrite hundreds of index entries (and stays under the per-document limit).
resource "google_firestore_field" "meetings_conferences" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "conferences"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# -- single-field index exemptions --------------------------------------------------------
#
# Firestore keeps a single-field index on every field unless told otherwise, and an index
# on a field whose values rise monotonically (a timestamp written "now") takes every new
# entry at its end: such an index sustains only about 500 writes/s per collection
# (https://cloud.google.com/firestore/docs/best-practices, "hotspots"). The fields below
# are timestamps no query filters or orders on (shared/store/firestore.py, meetsync_cli),
# so they are not indexed at all: their writes cost no index entry and no hotspot.

# Written when a sync takes its lease, on every sync of every calendar.
resource "google_firestore_field" "calendars_last_sync_started" {
  database   = var.firestore_database
  collection = "calendars"
  field      = "last_sync_started"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Written when a sync releases its lease, on every sync.
resource "google_firestore_field" "calendars_last_sync_finished" {
  database   = var.firestore_database
  collection = "calendars"
  field      = "last_sync_finished"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# The lease's end (now + lease), written on every acquire and renewal of a lease.
resource "google_firestore_field" "calendars_lease_expires" {
  database   = var.firestore_database
  collection = "calendars"
  field      = "lease_expires"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Set to now on every channel opened (watch and every renewal); read, never queried.
resource "google_firestore_field" "channels_created_at" {
  database   = var.firestore_database
  collection = "channels"
  field      = "created_at"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# The renewal claim's end (now + hold), written twice per renewal; checked on the
# document by the claim's precondition, never queried.
resource "google_firestore_field" "channels_renewal_claimed_until" {
  database   = var.firestore_database
  collection = "channels"
  field      = "renewal_claimed_until"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Set to now on every meeting created.
resource "google_firestore_field" "meetings_created_at" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "created_at"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# Set to now on every change of a meeting (each calendar change that reaches it, each
# Meet event): the most written timestamp of the system.
resource "google_firestore_field" "meetings_updated_at" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "updated_at"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# create_meeting's claim on a pending conference (now + wait); read on the record only.
resource "google_firestore_field" "meetings_claim_until" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "claim_until"

  index_config {}

  depends_on = [google_firestore_database.main]
}

# The Workspace Events subscription's expiry (Google's time, moved on every renewal);
# read on the record only.
resource "google_firestore_field" "meetings_subscription_expires" {
  database   = var.firestore_database
  collection = "meetings"
  field      = "subscription_expires"

  index_config {}

  depends_on = [google_firestore_database.main]
}
