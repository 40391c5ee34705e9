# What operators (var.operator_members) need to run the meetsync CLI (README,
# "Operating it"), and nothing more. run.invoker on watch-calendar and users comes
# from their entries in local.functions.
locals {
  operator_project_roles = {
    firestore  = "roles/datastore.user"           # status and lists; resync writes its calendar
    scheduler  = "roles/cloudscheduler.jobRunner" # renew, sweep: run the scheduler jobs
    logs       = "roles/logging.viewer"
    monitoring = "roles/monitoring.viewer"
  }
  operator_bindings = merge([
    for member in var.operator_members : {
      for label, role in local.operator_project_roles : "${label}/${member}" => { role = role, member = member }
    }
  ]...)

  # dlq list / replay / purge read and acknowledge the dead letter; events tail seeks
  # and pulls its own subscription; maintenance shard jobs that were dead-lettered are
  # inspected with gcloud pubsub subscriptions pull.
  operator_subscriptions = {
    dead-letter             = google_pubsub_subscription.dead_letter.name
    events-tail             = google_pubsub_subscription.events_tail.name
    maintenance-dead-letter = google_pubsub_subscription.maintenance_dead_letter.name
  }
  # dlq replay republishes change signals; an in-process resync announces what changed;
  # a run is dispatched by publishing {"kind": "renew" | "sweep"} to maintenance.
  operator_topics = ["calendar-changes", "meeting-events", "maintenance"]
}

resource "google_project_iam_member" "operators" {
  for_each = local.operator_bindings

  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

resource "google_pubsub_subscription_iam_member" "operators" {
  for_each = merge([
    for member in var.operator_members : {
      for label, name in local.operator_subscriptions : "${label}/${member}" => { subscription = name, member = member }
    }
  ]...)

  project      = var.project_id
  subscription = each.value.subscription
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

resource "google_pubsub_topic_iam_member" "operators" {
  for_each = merge([
    for member in var.operator_members : {
      for topic in local.operator_topics : "${topic}/${member}" => { topic = topic, member = member }
    }
  ]...)

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

# calendars resync and meetings show run the product's services in the operator's own
# process, acting as delegation users as the functions do (signJwt on the delegation
# account). Users who connected with Google sign-in also need TOKEN_ENCRYPTION_KEY in
# the operator's environment, which Terraform never hands out.
resource "google_service_account_iam_member" "operators_delegate" {
  for_each = local.delegation_enabled ? toset(var.operator_members) : toset([])

  service_account_id = google_service_account.delegation[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}
