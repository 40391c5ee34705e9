# Cloud Scheduler calls renew-channels with an OIDC token of the scheduler
# account (run.invoker on renew-channels only). Schedules sit off the round
# minute so that they do not pile onto everyone else's jobs.
locals {
  scheduler_jobs = {
    renew = {
      action      = "renew"
      schedule    = var.renew_schedule
      description = "Renews watch channels that expire within the renewal window and reaps orphans."
      retries     = 3
    }
    sweep = {
      action      = "sweep"
      schedule    = var.sweep_schedule
      description = "Sweep sync of every watched calendar: catches notifications Google dropped."
      retries     = 0 # the next run comes soon enough
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
