output "webhook_url" {
  description = "Address Google Calendar pushes notifications to (the functions' WEBHOOK_URL)."
  value       = local.webhook_url
}

output "function_urls" {
  description = "URL of every function, by name (the run.app address; IAM-protected except the webhook)."
  value       = { for key, fn in google_cloudfunctions2_function.fn : key => fn.service_config[0].uri }
}

output "create_meeting_url" {
  description = "URL client services call (with an identity token) to create a meeting."
  value       = google_cloudfunctions2_function.fn["create-meeting"].service_config[0].uri
}

output "watch_calendar_url" {
  description = "URL operators call (with an identity token) to watch or unwatch a calendar."
  value       = google_cloudfunctions2_function.fn["watch-calendar"].service_config[0].uri
}

output "users_url" {
  description = "URL operators call (with an identity token) to register (POST /users), inspect (GET /users/EMAIL) and disconnect (DELETE /users/EMAIL) users."
  value       = google_cloudfunctions2_function.fn["users"].service_config[0].uri
}

output "connect_url" {
  description = "Where users connect their Google account: send them to CONNECT_URL/connect (optional login_hint, return_to)."
  value       = local.connect_url
}

output "oauth_redirect_uri" {
  description = "Authorised redirect URI to register on the OAuth client in Google's console (APIs & Services, Credentials)."
  value       = local.oauth_redirect_uri
}

output "calendar_changes_topic" {
  description = "Topic of calendar change signals (ordering key = calendar)."
  value       = google_pubsub_topic.topic["calendar-changes"].name
}

output "meeting_events_topic" {
  description = "Topic of outbound meeting CloudEvents; attach your services' subscriptions to it."
  value       = google_pubsub_topic.topic["meeting-events"].id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding change signals the worker gave up on."
  value       = google_pubsub_subscription.dead_letter.name
}

output "events_tail_subscription" {
  description = "Pull subscription operators follow meeting-events through (`meetsync events tail`)."
  value       = google_pubsub_subscription.events_tail.name
}

output "monitoring_dashboard" {
  description = "The Cloud Monitoring dashboard of the calendar sync."
  value       = "https://console.cloud.google.com/monitoring/dashboards/builder/${element(split("/", google_monitoring_dashboard.main.id), 3)}?project=${var.project_id}"
}

output "function_service_accounts" {
  description = "Runtime service account of every function, by name."
  value       = { for key, sa in google_service_account.fn : key => sa.email }
}

output "delegation_service_account" {
  description = "Service account that impersonates Workspace users (when delegation is enabled; null otherwise)."
  value       = one(google_service_account.delegation[*].email)
}

output "delegation_client_id" {
  description = "Client id (unique id) to authorise for domain-wide delegation in the Workspace admin console, with the Calendar and Meet scopes (when delegation is enabled; null otherwise)."
  value       = one(google_service_account.delegation[*].unique_id)
}

output "source_object" {
  description = "Source archive the functions run, gs://BUCKET/source/SHA256.zip."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "maintenance_topic" {
  description = "Topic of the maintenance shard jobs; publishing {\"kind\": \"renew\"} or {\"kind\": \"sweep\"} to it dispatches a run."
  value       = google_pubsub_topic.topic["maintenance"].name
}

output "maintenance_dead_letter_subscription" {
  description = "Pull subscription holding maintenance shard jobs the maintenance function gave up on."
  value       = google_pubsub_subscription.maintenance_dead_letter.name
}

output "calendar_budget_by_function" {
  description = "The Calendar budget of each function that calls Calendar: its calls/min (floor(calendar_budget_per_min * its share)), its max instances, and each instance's token bucket rate (calls/min)."
  value = {
    for key, calls in local.calendar_budget_by_function : key => {
      calls_per_min              = calls
      instances                  = local.functions[key].max_instances
      calls_per_min_per_instance = calls / local.functions[key].max_instances
    } if local.functions[key].calendar_share > 0
  }
}
