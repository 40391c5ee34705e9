# Monitoring, declared beside what it watches: log-based metrics read from the
# functions' structured JSON logs (shared/logs.py: jsonPayload.message, .logger and
# the extra fields of each line), a dashboard, and alert policies that notify
# var.alert_notification_channels. tests/infra checks that every metric's filter
# names a log line the code really writes, with the fields it reads.
locals {
  # Every function logs to Cloud Run (gen2); each filter below is ANDed with this.
  log_source = "resource.type=\"cloud_run_revision\""

  log_metrics = {
    syncs = {
      description = "Change signals handled by the worker, by sync outcome (synced, marked_dirty, covered, not_watched, lease_lost) and signal state."
      filter      = "jsonPayload.logger=\"shared.services.worker\" AND jsonPayload.message=\"sync finished\""
      labels = {
        outcome = "EXTRACT(jsonPayload.report.outcome)"
        state   = "EXTRACT(jsonPayload.state)"
      }
      value = null
    }
    sync_failures = {
      description = "Deliveries the worker failed on (Pub/Sub retries them, then dead-letters), by error type."
      filter      = "jsonPayload.logger=\"shared.services.worker\" AND jsonPayload.message=\"sync failed; the signal will be retried\""
      labels      = { error = "EXTRACT(jsonPayload.error)" }
      value       = null
    }
    change_to_record_latency = {
      description = "From the webhook's receipt of Google's notification to the meeting records written (synced notifications only), in ms."
      filter      = "jsonPayload.logger=\"shared.services.worker\" AND jsonPayload.message=\"sync finished\" AND jsonPayload.report.outcome=\"synced\" AND jsonPayload.state=\"exists\""
      labels      = {}
      value       = "EXTRACT(jsonPayload.latency_ms)"
    }
    calendar_api_errors = {
      description = "Calendar API calls that failed (retried or final), by Google's reason and the call."
      filter      = "jsonPayload.logger=\"shared.google.api\" AND jsonPayload.message=(\"retrying Google API call\" OR \"Google API call failed\") AND jsonPayload.api=\"calendar\""
      labels = {
        reason = "EXTRACT(jsonPayload.reason)"
        call   = "EXTRACT(jsonPayload.call)"
      }
      value = null
    }
    notifications_rejected = {
      description = "Push notifications the webhook refused (forged, unknown channel, malformed), by reason and refusal kind."
      filter      = "jsonPayload.logger=\"shared.services.signals\" AND jsonPayload.message=\"notification rejected\""
      labels = {
        reason = "EXTRACT(jsonPayload.reason)"
        kind   = "EXTRACT(jsonPayload.kind)"
      }
      value = null
    }
    maintenance_runs = {
      # One line per shard job of a run (the maintenance function); `run` is its kind.
      description = "Renew and sweep shard jobs, by run (renew, sweep) and outcome (ok, attention, failed)."
      filter      = "jsonPayload.logger=\"shared.services.maintenance\" AND jsonPayload.message=\"maintenance run finished\""
      labels = {
        run     = "EXTRACT(jsonPayload.run)"
        outcome = "EXTRACT(jsonPayload.outcome)"
      }
      value = null
    }
    calendars_marked = {
      description = "Calendars renewal marked auth_revoked (the user's grant is gone) or gone (deleted at Google)."
      filter      = "jsonPayload.logger=\"shared.services.channels\" AND jsonPayload.message=\"calendar marked\""
      labels      = { status = "EXTRACT(jsonPayload.status)" }
      value       = null
    }
    channels_expired = {
      description = "Watch channels found expired before renewal replaced them: their calendars' notifications were lost meanwhile."
      filter      = "jsonPayload.logger=\"shared.services.channels\" AND jsonPayload.message=\"channel expired before renewal\""
      labels      = {}
      value       = null
    }
  }

  metric_type = { for k, m in google_logging_metric.log : k => "logging.googleapis.com/user/${m.name}" }
}

resource "google_logging_metric" "log" {
  for_each = local.log_metrics

  name        = "${var.name_prefix}/${each.key}"
  description = each.value.description
  filter      = "${local.log_source} AND ${each.value.filter}"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = each.value.value == null ? "INT64" : "DISTRIBUTION"
    unit        = each.value.value == null ? "1" : "ms"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  label_extractors = each.value.labels
  value_extractor  = each.value.value

  dynamic "bucket_options" {
    for_each = each.value.value == null ? [] : [1]
    content {
      exponential_buckets { # 10 ms to about 2 hours
        num_finite_buckets = 40
        growth_factor      = 1.4
        scale              = 10
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # Alert policies: a name, what it means and what to do (its documentation), and one
  # or more conditions, any of which opens an incident.
  alerts = {
    dead-letter = {
      title = "Change signals dead-lettered"
      doc   = "The worker gave up on change signals. `meetsync dlq list` shows why each failed; fix the cause, then `meetsync dlq replay` (README, \"A dead-lettered signal\")."
      conditions = [{
        name      = "calendar-changes-dead-letter holds messages"
        filter    = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
        aligner   = "ALIGN_MAX"
        threshold = 0
        absent    = false
      }]
    }
    calendars-lost = {
      title = "Calendars marked auth_revoked or gone"
      doc   = "Renewal found a user's grant revoked or a calendar deleted; those calendars are no longer synced. `meetsync status`, then README \"A revoked user\"."
      conditions = [{
        name      = "a calendar was marked auth_revoked or gone"
        filter    = "metric.type=\"${local.metric_type["calendars_marked"]}\" AND resource.type=\"cloud_run_revision\""
        aligner   = "ALIGN_SUM"
        threshold = 0
        absent    = false
      }]
    }
    channel-expired = {
      title = "A watch channel expired before it was renewed"
      doc   = "A calendar's notifications were lost until renewal caught up (the sweep recovered its changes). Check that the renew job runs: `meetsync status`, `meetsync channels list --expiring 24h`, `meetsync renew`."
      conditions = [{
        name      = "a channel expired unrenewed"
        filter    = "metric.type=\"${local.metric_type["channels_expired"]}\" AND resource.type=\"cloud_run_revision\""
        aligner   = "ALIGN_SUM"
        threshold = 0
        absent    = false
      }]
    }
    sync-lag = {
      title = "Calendar changes reach meeting records slowly"
      doc   = "The 95th percentile from a Google notification to the records written is above ${var.sync_lag_alert_seconds} s. Look for Calendar API errors and rate limits on the dashboard, and `meetsync status` for stale calendars."
      conditions = [{
        name      = "p95 change-to-record latency above the bound"
        filter    = "metric.type=\"${local.metric_type["change_to_record_latency"]}\" AND resource.type=\"cloud_run_revision\""
        aligner   = "ALIGN_PERCENTILE_95"
        threshold = var.sync_lag_alert_seconds * 1000
        absent    = false
      }]
    }
    maintenance = {
      title = "Renew or sweep failing"
      doc   = "A renew or sweep job failed, shard jobs were dead-lettered (the maintenance function failed on them 10 times: `gcloud pubsub subscriptions pull maintenance-dead-letter`), or no sweep ran for an hour (the scheduler job, the renew_channels dispatcher or the maintenance function is broken). `meetsync status` shows the last runs; `meetsync renew` / `meetsync sweep` run one now."
      conditions = [
        {
          name      = "maintenance-dead-letter holds messages"
          filter    = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.maintenance_dead_letter.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
          aligner   = "ALIGN_MAX"
          threshold = 0
          absent    = false
        },
        {
          name      = "a run failed"
          filter    = "metric.type=\"${local.metric_type["maintenance_runs"]}\" AND resource.type=\"cloud_run_revision\" AND metric.labels.outcome=\"failed\""
          aligner   = "ALIGN_SUM"
          threshold = 0
          absent    = false
        },
        {
          name      = "no sweep for an hour"
          filter    = "metric.type=\"${local.metric_type["maintenance_runs"]}\" AND resource.type=\"cloud_run_revision\" AND metric.labels.run=\"sweep\""
          aligner   = "ALIGN_SUM"
          threshold = 0
          absent    = true
        },
      ]
    }
  }
}

resource "google_monitoring_alert_policy" "alert" {
  for_each = local.alerts

  display_name          = "${var.name_prefix}: ${each.value.title}"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  severity              = "WARNING"

  documentation {
    content   = each.value.doc
    mime_type = "text/markdown"
  }

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.name

      dynamic "condition_threshold" {
        for_each = conditions.value.absent ? [] : [1]
        content {
          filter          = conditions.value.filter
          comparison      = "COMPARISON_GT"
          threshold_value = conditions.value.threshold
          duration        = "0s"
          aggregations {
            alignment_period     = "300s"
            per_series_aligner   = conditions.value.aligner
            cross_series_reducer = "REDUCE_MAX"
          }
          trigger {
            count = 1
          }
        }
      }

      dynamic "condition_absent" {
        for_each = conditions.value.absent ? [1] : []
        content {
          filter   = conditions.value.filter
          duration = "3600s"
          aggregations {
            alignment_period     = "900s"
            per_series_aligner   = conditions.value.aligner
            cross_series_reducer = "REDUCE_SUM"
          }
        }
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # Dashboard tiles: title, metric filter, aligner, and the labels to group by.
  dashboard_charts = [
    { title = "Syncs by outcome", filter = "metric.type=\"${local.metric_type["syncs"]}\"", aligner = "ALIGN_RATE", by = ["metric.label.outcome"] },
    { title = "Change to record, p95 (ms)", filter = "metric.type=\"${local.metric_type["change_to_record_latency"]}\"", aligner = "ALIGN_PERCENTILE_95", by = [] },
    { title = "Calendar API errors by reason", filter = "metric.type=\"${local.metric_type["calendar_api_errors"]}\"", aligner = "ALIGN_RATE", by = ["metric.label.reason"] },
    { title = "Notifications rejected by reason", filter = "metric.type=\"${local.metric_type["notifications_rejected"]}\"", aligner = "ALIGN_RATE", by = ["metric.label.reason"] },
    { title = "Worker failures by error", filter = "metric.type=\"${local.metric_type["sync_failures"]}\"", aligner = "ALIGN_RATE", by = ["metric.label.error"] },
    { title = "Dead-lettered signals", filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\"", aligner = "ALIGN_MAX", by = [] },
    { title = "Renew and sweep runs by outcome", filter = "metric.type=\"${local.metric_type["maintenance_runs"]}\"", aligner = "ALIGN_SUM", by = ["metric.label.run", "metric.label.outcome"] },
    { title = "Calendars marked auth_revoked / gone", filter = "metric.type=\"${local.metric_type["calendars_marked"]}\"", aligner = "ALIGN_SUM", by = ["metric.label.status"] },
  ]
}

resource "google_monitoring_dashboard" "main" {
  dashboard_json = jsonencode({
    displayName = "${var.name_prefix}: calendar sync"
    mosaicLayout = {
      columns = 12
      tiles = [for i, chart in local.dashboard_charts : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = chart.title
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = chart.filter
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = chart.aligner
                    crossSeriesReducer = length(chart.by) > 0 ? "REDUCE_SUM" : "REDUCE_MAX"
                    groupByFields      = chart.by
                  }
                }
              }
            }]
          }
        }
      }]
    }
  })

  depends_on = [google_project_service.enabled]
}
