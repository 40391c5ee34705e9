# Firestore (native mode). Collections: users, calendars, channels, meetings,
# connect_states (one per used sign-in state, for single use; purged by TTL), runs (a
# report per renew or sweep run) and delivery_failures (why the worker failed on a
# change signal, for the dead-letter view); the last three purged by TTL.
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

# Channels due for renewal: state == active, ordered by expiration.
resource "google_firestore_index" "channels_state_expiration" {
  database   = var.firestore_database
  collection = "channels"

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

# Meetings of a calendar in a given status (reconciliation after a full sync).
resource "google_firestore_index" "meetings_calendar_status" {
  database   = var.firestore_database
  collection = "meetings"

  fields {
    field_path = "calendar_key"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_database.main]
}

# Watched calendars due for a sweep sync.
resource "google_firestore_index" "calendars_status_next_sweep" {
  database   = var.firestore_database
  collection = "calendars"

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
