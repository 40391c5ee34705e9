# One service account per function, each holding only what its function does.
# Roles that have no narrower resource than the project (Firestore) are granted
# on the project; everything else is granted on the one resource it concerns.

resource "google_service_account" "fn" {
  for_each = local.functions

  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "${var.name_prefix} ${each.value.entry_point}"
  description  = "Runtime identity of the ${each.value.entry_point} function."
}

# Firestore IAM is project-wide: the webhook only reads (datastore.viewer), the
# others read and write documents (datastore.user). Neither can change indexes.
resource "google_project_iam_member" "firestore" {
  for_each = local.functions

  project = var.project_id
  role    = each.value.firestore
  member  = "serviceAccount:${google_service_account.fn[each.key].email}"
}

# Publisher on exactly the topics a function's map entry lists.
locals {
  publisher_bindings = merge([
    for fn, cfg in local.functions : {
      for topic in cfg.publishes : "${fn}/${topic}" => { function = fn, topic = topic }
    }
  ]...)
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publisher_bindings

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.fn[each.value.function].email}"
}

# Domain-wide delegation without key files: the functions that act as users sign
# the delegation JWT through IAM Credentials signJwt on this account. It holds no
# role of its own; its client id (output delegation_client_id) is authorised in
# the Workspace admin console with the Calendar and Meet scopes. Made whenever
# delegation users may exist (local.delegation_enabled), beside sign-in users.
resource "google_service_account" "delegation" {
  count = local.delegation_enabled ? 1 : 0

  account_id   = "${var.name_prefix}-delegation"
  display_name = "${var.name_prefix} domain-wide delegation"
  description  = "Impersonates Workspace users for Calendar and Meet; no keys, signs through IAM Credentials."
}

resource "google_service_account_iam_member" "delegation_signer" {
  for_each = local.delegation_enabled ? { for fn, cfg in local.functions : fn => cfg if cfg.acts_as_users } : {}

  service_account_id = google_service_account.delegation[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.fn[each.key].email}"
}

# Identity Pub/Sub presents (OIDC) when it pushes to sync-worker, meet-events and
# maintenance; run.invoker on those functions only (see local.functions).
resource "google_service_account" "pubsub_push" {
  account_id   = "${var.name_prefix}-pubsub-push"
  display_name = "${var.name_prefix} Pub/Sub push to workers"
  description  = "OIDC identity of the calendar-changes, workspace-events and maintenance push subscriptions; may invoke sync_worker, meet_events and maintenance only."
}

# Identity Cloud Scheduler presents (OIDC) when it calls renew-channels.
resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "${var.name_prefix} Cloud Scheduler"
  description  = "OIDC identity of the renewal and sweep jobs; may invoke renew_channels only."
}

# The Pub/Sub service agent mints the push OIDC tokens; projects that enabled
# Pub/Sub before April 2021 need this grant, and it is scoped to the one account.
resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}

# Builds run as a dedicated account instead of a default one.
resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "${var.name_prefix} function builds"
  description  = "Cloud Build identity that turns the source archive into function images."
}

resource "google_project_iam_member" "build" {
  for_each = {
    logs = { role = "roles/logging.logWriter", condition = null }
    # Cloud Functions copies the source into its gcf-v2-sources-* bucket and the
    # build reads (and caches) there; no other bucket is reachable.
    gcf-sources = {
      role = "roles/storage.objectAdmin"
      condition = {
        title      = "gcf-v2-sources buckets only"
        expression = "resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
      }
    }
  }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.build.email}"

  dynamic "condition" {
    for_each = each.value.condition == null ? [] : [each.value.condition]
    content {
      title      = condition.value.title
      expression = condition.value.expression
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "build" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}
