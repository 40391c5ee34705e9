# Cloud Scheduler calls renew-channels with an OIDC token of the scheduler
# account (run.invoker on renew-channels only). renew-channels is a dispatcher: it
# publishes one job per shard to the maintenance topic and answers within seconds,
# whatever the number of calendars; the maintenance function does the work. So the
# attempt deadline is the dispatcher's timeout (60 s), and a retried attempt (after a
# timeout) only dispatches again, which the jobs tolerate (renewal claims each channel).
# Schedules sit off the round minute so that they do not pile onto everyone else's jobs.
locals {
  scheduler_jobs = {
    renew = {
      action      = "renew"
      schedule    = var.renew_schedule
      description = "Dispatches the renewal of watch channels that expire within the renewal window (one job per shard on the maintenance topic)."
      retries     = 3
    }
    sweep = {
      action      = "sweep"
      schedule    = var.sweep_schedule
      description = "Dispatches the sweep sync of the calendars nothing synced for the sweep age (one job per shard): catches notifications Google dropped."
      retries     = 0 # the next run comes soon enough
    }
    audit = {
      action      = "audit"
      schedule    = var.audit_schedule
      description = "Dispatches the audit (one job per shard): re-reads the events of the meetings due for it (each at most once per AUDIT_HOURS) and corrects any record that disagrees."
      retries     = 0 # each meeting's next audit stays due until a run reads it
    }
  }
}

resource "google_cloud_scheduler_job" "renew_channels" {
  for_each = local.scheduler_jobs

  name             = "${var.name_prefix}-${each.key}"
  region           = coalesce(var.scheduler_region, var.region)
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "${local.functions["renew-channels"].timeout}s"

  retry_config {
    retry_count          = each.value.retries
    min_backoff_duration = "30s"
    max_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["renew-channels"].service_config[0].uri
    body        = base64encode(jsonencode({ action = each.value.action }))
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.fn["renew-channels"].service_config[0].uri
    }
  }

  depends_on = [google_project_service.enabled, google_cloud_run_service_iam_member.invoker]
}
