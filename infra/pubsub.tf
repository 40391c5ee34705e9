# calendar-changes: the webhook (and the scheduled sweep) publish one change
#   signal per calendar, with the calendar as ordering key.
# meeting-events: outbound CloudEvents for the team's other services; they attach
#   their own subscriptions (see output meeting_events_topic).
# calendar-changes-dead-letter: signals the worker failed on max_delivery_attempts
#   times; kept by a pull subscription for inspection and replay.
# maintenance: the fan-out of the renew and sweep runs. renew-channels (the scheduler's
#   dispatcher) publishes one JSON shard job per shard ({"kind": "renew"|"sweep", "run",
#   "shard", ...}); a `{"kind": ...}` without shard dispatches a whole run; the
#   maintenance function does each job and publishes its continuation when its time
#   budget runs out. Jobs that keep failing go to maintenance-dead-letter.
locals {
  topics = {
    calendar-changes             = { purpose = "change-signals" }
    meeting-events               = { purpose = "outbound-meeting-events" }
    calendar-changes-dead-letter = { purpose = "dead-letter" }
    workspace-events             = { purpose = "meet-events" }
    workspace-events-dead-letter = { purpose = "dead-letter" }
    maintenance                  = { purpose = "maintenance-jobs" }
    maintenance-dead-letter      = { purpose = "dead-letter" }
  }

  # Delivery attempts before a change signal goes to the dead letter topic.
  max_delivery_attempts = 10
}

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Messages carry calendar keys and meeting ids, no event content or credentials; Google-managed encryption at rest is kept to avoid operating a KMS key.
  for_each = local.topics

  name                       = each.key
  message_retention_duration = "86400s"
  labels                     = { purpose = each.value.purpose }

  depends_on = [google_project_service.enabled]
}

# Feeds sync-worker. A subscription we own rather than an Eventarc trigger, so
# that ordering, retry backoff, dead lettering and the ack deadline are ours.
resource "google_pubsub_subscription" "sync_worker_push" {
  name  = "calendar-changes-sync-worker"
  topic = google_pubsub_topic.topic["calendar-changes"].id

  enable_message_ordering = true
  # Longer than the worker's timeout (300 s), so a signal is not redelivered
  # while the worker that holds it is still running.
  ack_deadline_seconds       = 330
  message_retention_duration = "604800s"

  push_config {
    # The topic in the path becomes the CloudEvent source when functions-framework
    # converts the push body (the same source an Eventarc trigger would give).
    push_endpoint = "${google_cloudfunctions2_function.fn["sync-worker"].service_config[0].uri}/${google_pubsub_topic.topic["calendar-changes"].id}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.fn["sync-worker"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["calendar-changes-dead-letter"].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expires, even when no message flows for a long time
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_dead_letters,
    google_cloud_run_service_iam_member.invoker,
  ]
}

# workspace-events: Google Workspace Events publishes the Meet events of the
# meetings' subscriptions here (conference started/ended, participants, recordings,
# transcripts, and the subscriptions' lifecycle); meet-events reads it by push.
# Google publishes as its Meet events service account, which needs the publisher role.
resource "google_pubsub_topic_iam_member" "meet_events_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["workspace-events"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:meet-api-event-push@system.gserviceaccount.com"
}

resource "google_pubsub_subscription" "meet_events_push" {
  name  = "workspace-events-meet-events"
  topic = google_pubsub_topic.topic["workspace-events"].id

  # Ordered per space (Google's ordering key is the event's source); longer than
  # the function's timeout.
  enable_message_ordering    = true
  ack_deadline_seconds       = 90
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.fn["meet-events"].service_config[0].uri}/${google_pubsub_topic.topic["workspace-events"].id}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.fn["meet-events"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["workspace-events-dead-letter"].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_meet_dead_letters,
    google_cloud_run_service_iam_member.invoker,
  ]
}

# Undecodable Meet events (or ones that kept failing), kept 7 days for inspection.
resource "google_pubsub_subscription" "meet_events_dead_letter" {
  name  = "workspace-events-dead-letter"
  topic = google_pubsub_topic.topic["workspace-events-dead-letter"].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_meet_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["workspace-events-dead-letter"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_meet_events" {
  project      = var.project_id
  subscription = google_pubsub_subscription.meet_events_push.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Keeps dead-lettered signals (7 days) until an operator inspects or replays them.
resource "google_pubsub_subscription" "dead_letter" {
  name  = "calendar-changes-dead-letter"
  topic = google_pubsub_topic.topic["calendar-changes-dead-letter"].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# Operators follow meeting-events through this one (`meetsync events tail` seeks it to
# the present first); it keeps only ten minutes of events for nobody.
resource "google_pubsub_subscription" "events_tail" {
  name  = "meeting-events-tail"
  topic = google_pubsub_topic.topic["meeting-events"].id

  enable_message_ordering    = true
  ack_deadline_seconds       = 10
  message_retention_duration = "600s"

  expiration_policy {
    ttl = ""
  }
}

# Dead lettering is done by the Pub/Sub service agent: it must publish to the
# dead letter topic and acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["calendar-changes-dead-letter"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_source" {
  project      = var.project_id
  subscription = google_pubsub_subscription.sync_worker_push.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Feeds the maintenance function, the sync-worker pattern: a push subscription we own
# (retry backoff, dead letter and ack deadline are ours), with an OIDC token of the push
# account. Unordered: shard jobs are independent, and a redelivered or duplicated one is
# harmless (renewal claims each channel with a precondition; a sweep signal for a
# calendar already syncing is coalesced by its lease).
resource "google_pubsub_subscription" "maintenance_push" {
  name  = "maintenance-maintenance"
  topic = google_pubsub_topic.topic["maintenance"].id

  enable_message_ordering = false
  # Longer than the maintenance function's timeout (60 s; each job budgets ~40 s), so a
  # job is not redelivered while the instance that holds it is still working on it.
  ack_deadline_seconds = 90
  # A job older than a day is superseded by the runs dispatched since.
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.fn["maintenance"].service_config[0].uri}/${google_pubsub_topic.topic["maintenance"].id}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.fn["maintenance"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["maintenance-dead-letter"].id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_maintenance_dead_letters,
    google_cloud_run_service_iam_member.invoker,
  ]
}

# Shard jobs the maintenance function failed on max_delivery_attempts times, kept 7 days
# for inspection: `gcloud pubsub subscriptions pull maintenance-dead-letter`. The next
# scheduled run covers the shard again, so a dead letter means "look at why".
resource "google_pubsub_subscription" "maintenance_dead_letter" {
  name  = "maintenance-dead-letter"
  topic = google_pubsub_topic.topic["maintenance-dead-letter"].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_maintenance_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["maintenance-dead-letter"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_maintenance" {
  project      = var.project_id
  subscription = google_pubsub_subscription.maintenance_push.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}
