# Every Cloud Function (gen2) is declared here, from the one map below.
#
# All of them are HTTP-served; none has an Eventarc trigger:
# - sync-worker, maintenance and meet-events are fed by push subscriptions in pubsub.tf
#   (ordering, retry policy and dead letter are ours); functions-framework turns the
#   Pub/Sub push body into the CloudEvent its @cloud_event signature expects.
# - renew-channels is called by the Cloud Scheduler jobs in scheduler.tf: a dispatcher that
#   publishes one shard job per shard to the maintenance topic and answers in seconds.
# - calendar-webhook and connect are the only public functions: Google pushes to
#   the webhook, and users' browsers open connect (Google sign-in).
# - the others are called by clients or operators holding run.invoker.
#
# Per function: `concurrency` is max_instance_request_concurrency (requests one instance
# serves at once, each on its own thread: functions-framework's THREADS is set to it);
# above 1 it needs `cpu` >= 1 (Cloud Run forces concurrency 1 on a fractional CPU), so
# those functions name their CPU; null keeps the default derived from the memory.
# `calendar_share` is the function's share of the Calendar budget (var.calendar_budget_shares;
# 0 for the functions that never call Calendar): see local.calendar_budget_by_function below.
locals {
  functions = {
    calendar-webhook = {
      entry_point    = "calendar_webhook"
      description    = "Receives Google Calendar push notifications, checks channel and token, publishes a change signal."
      memory         = "256Mi"
      timeout        = 30
      max_instances  = var.max_instances.calendar_webhook
      concurrency    = 1
      cpu            = null
      ingress        = "ALLOW_ALL"
      firestore      = "roles/datastore.viewer"
      publishes      = ["calendar-changes"]
      acts_as_users  = false
      calendar_share = 0 # never calls Calendar
      # Public: the allUsers binding is google_cloud_run_service_iam_member.webhook_public.
      invokers = {}
    }
    sync-worker = {
      entry_point    = "sync_worker"
      description    = "Syncs one calendar per change signal and keeps the meetings, Meet spaces and outbound events in step."
      memory         = "512Mi"
      timeout        = 300
      max_instances  = var.max_instances.sync_worker
      concurrency    = 8 # threads, each with its own HTTP client
      cpu            = "1"
      ingress        = "ALLOW_ALL"
      firestore      = "roles/datastore.user"
      publishes      = ["meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.sync_worker
      invokers       = { pubsub-push = "serviceAccount:${google_service_account.pubsub_push.email}" }
    }
    meet-events = {
      entry_point    = "meet_events"
      description    = "Puts Google Meet activity (conference start and end, attendance, recordings, transcripts) from Workspace Events onto the meetings; keeps their subscriptions alive."
      memory         = "512Mi"
      timeout        = 60
      max_instances  = var.max_instances.meet_events
      concurrency    = 1
      cpu            = null
      ingress        = "ALLOW_ALL"
      firestore      = "roles/datastore.user"
      publishes      = ["meeting-events"]
      acts_as_users  = true # Meet and Directory, never Calendar
      calendar_share = 0    # never calls Calendar
      invokers       = { pubsub-push = "serviceAccount:${google_service_account.pubsub_push.email}" }
    }
    create-meeting = {
      entry_point   = "create_meeting"
      description   = "Creates a calendar event with a Google Meet conference, idempotently, and returns the join link."
      memory        = "256Mi"
      timeout       = 60
      max_instances = var.max_instances.create_meeting
      concurrency   = 1
      cpu           = null
      ingress       = var.private_ingress
      firestore     = "roles/datastore.user"
      # maintenance: the completion job a 202 promises (the server finishes the create)
      publishes      = ["maintenance", "meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.create_meeting
      invokers       = { for m in var.create_meeting_invokers : m => m }
    }
    watch-calendar = {
      entry_point    = "watch_calendar"
      description    = "Operator endpoint: watches or unwatches a calendar."
      memory         = "256Mi"
      timeout        = 300
      max_instances  = var.max_instances.watch_calendar
      concurrency    = 1
      cpu            = null
      ingress        = var.private_ingress
      firestore      = "roles/datastore.user"
      publishes      = ["calendar-changes"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.watch_calendar
      invokers       = { for m in var.operator_members : m => m }
    }
    # A dispatcher now: it publishes one job per shard to maintenance and stores the
    # dispatch report; on a sweep it also requeues pending meetings whose completion job
    # was lost (a bounded step). It builds the maintenance service, whose channel renewal holds the Calendar client, so it gets a
    # small share of the Calendar budget (conservatively: dispatching makes no Calendar call).
    renew-channels = {
      entry_point    = "renew_channels"
      description    = "Scheduled dispatcher: publishes one renew or sweep job per shard to the maintenance topic and answers in seconds."
      memory         = "512Mi"
      timeout        = 60
      max_instances  = var.max_instances.renew_channels
      concurrency    = 1
      cpu            = null
      ingress        = "ALLOW_INTERNAL_ONLY"
      firestore      = "roles/datastore.user"
      publishes      = ["maintenance", "meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.renew_channels
      invokers       = { scheduler = "serviceAccount:${google_service_account.scheduler.email}" }
    }
    # One shard job per message: each job budgets its work to about 40 s of the 60 s
    # timeout, then publishes its continuation. Publishes to maintenance (continuations),
    # calendar-changes (the sweep's signals) and meeting-events (user.auth_revoked found
    # by renewal; what a sweep's outcome checks learn from Meet, as the users).
    maintenance = {
      entry_point    = "maintenance"
      description    = "Does one maintenance shard job (renews the shard's due channels, or sweeps its stale calendars and reads the conference records its meetings are due); publishes its continuation when its time budget runs out."
      memory         = "512Mi"
      timeout        = 60
      max_instances  = var.max_instances.maintenance
      concurrency    = 4
      cpu            = "1"
      ingress        = "ALLOW_ALL"
      firestore      = "roles/datastore.user"
      publishes      = ["maintenance", "calendar-changes", "meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.maintenance
      invokers       = { pubsub-push = "serviceAccount:${google_service_account.pubsub_push.email}" }
    }
    import-events = {
      entry_point    = "import_events"
      description    = "Imports existing calendar events into meetings the system holds."
      memory         = "512Mi"
      timeout        = 300
      max_instances  = var.max_instances.import_events
      concurrency    = 1
      cpu            = null
      ingress        = var.private_ingress
      firestore      = "roles/datastore.user"
      publishes      = ["meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.import_events
      invokers       = { for m in var.import_events_invokers : m => m }
    }
    users = {
      entry_point    = "users"
      description    = "Operator endpoint: registers users for domain-wide delegation, shows their status, disconnects them."
      memory         = "256Mi"
      timeout        = 300
      max_instances  = var.max_instances.users
      concurrency    = 1
      cpu            = null
      ingress        = var.private_ingress
      firestore      = "roles/datastore.user"
      publishes      = ["calendar-changes", "meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.users
      invokers       = { for m in var.operator_members : m => m }
    }
    connect = {
      entry_point    = "connect"
      description    = "Users connect their Google account (Google sign-in): consent redirect and OAuth callback."
      memory         = "256Mi"
      timeout        = 60
      max_instances  = var.max_instances.connect
      concurrency    = 1
      cpu            = null
      ingress        = "ALLOW_ALL"
      firestore      = "roles/datastore.user"
      publishes      = ["calendar-changes", "meeting-events"]
      acts_as_users  = true
      calendar_share = var.calendar_budget_shares.connect
      # Public: the allUsers binding is google_cloud_run_service_iam_member.connect_public.
      invokers = {}
    }
  }

  # The webhook's address is derived, not read from the function, so that every
  # function (the webhook included) can be given it without a dependency cycle:
  # a gen2 function always answers on https://REGION-PROJECT.cloudfunctions.net/NAME.
  function_names = { for key, _ in local.functions : key => "${var.name_prefix}-${key}" }
  webhook_url    = var.webhook_url != "" ? var.webhook_url : "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names["calendar-webhook"]}"
  # Registered by hand on the OAuth client in Google's console (output oauth_redirect_uri).
  connect_url        = var.connect_url != "" ? trimsuffix(var.connect_url, "/") : "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names["connect"]}"
  oauth_redirect_uri = "${local.connect_url}/oauth/callback"

  # Which auth modes users may have: delegation unless turned off (the default mode
  # needs it), Google sign-in (refresh_token) as soon as there is an OAuth client.
  delegation_enabled = var.enable_delegation || var.auth_mode == "delegation"
  sign_in_enabled    = var.oauth_client_id != ""

  # The Calendar budget. Google allows 10,000 Calendar requests/min per project (and 600/min
  # per user; https://developers.google.com/calendar/api/guides/quota); the project spends at
  # most var.calendar_budget_per_min of it. Each function that calls Calendar (through
  # shared/wiring.py's calendar(); the webhook and meet-events never do) gets its own share,
  # var.calendar_budget_shares, and splits it over its own instances: every instance runs a
  # token bucket (shared/services/budget.py) refilling at CALENDAR_BUDGET_PER_MIN /
  # CALENDAR_BUDGET_INSTANCES per minute, and here those are the function's calls/min
  # (floor(budget * share)) and its max_instances. One bucket per instance, shared by its
  # threads (one gunicorn worker process per instance), so concurrency does not enter it.
  # The shares sum to 1 and each is rounded down, so even with every instance of every
  # function busy the project stays within the budget (the total is also a precondition
  # below); peaks wait in Pub/Sub. Raising a function's max_instances thins only its own
  # instances' rate. Calls/min by function (0: never calls Calendar); a binary fraction can
  # round one call below the exact product, never above.
  calendar_budget_by_function = {
    for key, fn in local.functions : key => floor(var.calendar_budget_per_min * fn.calendar_share)
  }
  # The two settings, per function; unset (the code's defaults) where the share is 0.
  calendar_budget_env = {
    for key, fn in local.functions : key => fn.calendar_share > 0 ? {
      CALENDAR_BUDGET_PER_MIN   = tostring(local.calendar_budget_by_function[key])
      CALENDAR_BUDGET_INSTANCES = tostring(fn.max_instances)
    } : {}
  }

  # Every variable shared/settings.py reads, except the secrets below and the Calendar
  # budget's two (per function, local.calendar_budget_env). A null value is left unset so
  # that the code's default applies.
  function_env = {
    GOOGLE_CLOUD_PROJECT        = var.project_id
    AUTH_MODE                   = var.auth_mode
    DELEGATION_SERVICE_ACCOUNT  = local.delegation_enabled ? google_service_account.delegation[0].email : null
    OAUTH_CLIENT_ID             = local.sign_in_enabled ? var.oauth_client_id : null
    CALENDAR_API_ROOT           = var.api_roots.calendar
    MEET_API_ROOT               = var.api_roots.meet
    WORKSPACE_EVENTS_API_ROOT   = var.api_roots.workspace_events
    DIRECTORY_API_ROOT          = var.api_roots.directory
    OAUTH_TOKEN_URI             = var.api_roots.oauth_token
    IAM_CREDENTIALS_ROOT        = var.api_roots.iam_credentials
    OAUTH_AUTH_URI              = var.api_roots.oauth_auth
    OAUTH_REVOKE_URI            = var.api_roots.oauth_revoke
    OAUTH_CERTS_URI             = var.api_roots.oauth_certs
    OAUTH_REDIRECT_URI          = local.sign_in_enabled ? local.oauth_redirect_uri : null
    CONNECT_RETURN_TO_ALLOWLIST = length(var.connect_return_to_allowlist) > 0 ? join(" ", var.connect_return_to_allowlist) : null
    CONNECT_WATCHES_PRIMARY     = var.connect_watches_primary
    CONNECT_STATE_TTL_SECONDS   = var.tuning.connect_state_ttl_seconds
    FIRESTORE_DATABASE          = var.firestore_database
    CHANGES_TOPIC               = google_pubsub_topic.topic["calendar-changes"].name
    MEETING_EVENTS_TOPIC        = google_pubsub_topic.topic["meeting-events"].name
    MAINTENANCE_TOPIC           = google_pubsub_topic.topic["maintenance"].name
    WORKSPACE_EVENTS_TOPIC      = google_pubsub_topic.topic["workspace-events"].name
    WEBHOOK_URL                 = local.webhook_url
    SWEEP_AGE_SECONDS           = var.tuning.sweep_age_seconds
    AUDIT_HOURS                 = var.tuning.audit_hours
    CHANNEL_TTL_SECONDS         = var.tuning.channel_ttl_seconds
    RENEW_WINDOW_SECONDS        = var.tuning.renew_window_seconds
    CHANNEL_OVERLAP_SECONDS     = var.tuning.channel_overlap_seconds
    CHANNEL_CACHE_SECONDS       = var.tuning.channel_cache_seconds
    FULL_SYNC_DAYS              = var.tuning.full_sync_days
    LEASE_SECONDS               = var.tuning.lease_seconds
    SYNC_SETTLE_SECONDS         = var.tuning.sync_settle_seconds
    MAX_MESSAGE_AGE_SECONDS     = var.tuning.max_message_age_seconds
    API_RETRIES                 = var.tuning.api_retries
    CONFERENCE_WAIT_SECONDS     = var.tuning.conference_wait_seconds
    PENDING_REQUEUE_SECONDS     = var.tuning.pending_requeue_seconds
    MAX_ATTENDEES               = var.tuning.max_attendees
    MAX_BODY_BYTES              = var.tuning.max_body_bytes
    LOG_LEVEL                   = var.log_level
  }
  function_env_set = { for name, value in local.function_env : name => tostring(value) if value != null }

  # Secret variables: environment name => Secret Manager secret id. Deployed whenever
  # Google sign-in can be used (an OAuth client is set): refresh_token users may then
  # exist, and every function that acts as users may act as one of them. Delegation
  # needs no secret.
  secret_env = {
    OAUTH_CLIENT_SECRET  = var.oauth_client_secret_secret_id
    TOKEN_ENCRYPTION_KEY = var.token_encryption_key_secret_id
    STATE_SIGNING_KEY    = var.state_signing_key_secret_id
  }
  secret_env_deployed = local.sign_in_enabled ? local.secret_env : {}
}

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:ALLOW_ALL only for the public Calendar webhook and for IAM-only functions called from outside the VPC (Pub/Sub push, clients, operators); no allUsers except the webhook, enforced by tests/infra.
  for_each = local.functions

  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.description

  build_config {
    runtime           = var.python_runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.fn[each.key].email
    # The settings, this function's Calendar budget, plus functions-framework's THREADS
    # (gunicorn threads of the one worker process): as many as the requests the instance is
    # sent, as Google recommends for Python; its default (4 per CPU) would queue requests
    # inside the instance.
    environment_variables = merge(local.function_env_set, local.calendar_budget_env[each.key], { THREADS = tostring(each.value.concurrency) })

    dynamic "secret_environment_variables" {
      for_each = local.secret_env_deployed
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.auth_mode != "refresh_token" || var.oauth_client_id != ""
      error_message = "auth_mode = refresh_token needs oauth_client_id (and the three secrets, see README)."
    }
    precondition {
      condition     = each.value.concurrency == 1 || try(tonumber(each.value.cpu) >= 1, false)
      error_message = "${each.key}: concurrency above 1 needs cpu >= 1 (Cloud Run allows only concurrency 1 on a fractional CPU)."
    }
    precondition {
      condition     = each.value.calendar_share == 0 || local.calendar_budget_by_function[each.key] >= each.value.max_instances
      error_message = "${each.key}: its Calendar budget (${local.calendar_budget_by_function[each.key]}/min, ${each.value.calendar_share} of calendar_budget_per_min ${var.calendar_budget_per_min}) is below its ${each.value.max_instances} instances: each instance's token bucket would refill at less than one call per minute. Lower its max_instances, or raise its share or the budget."
    }
    precondition {
      condition     = sum(values(local.calendar_budget_by_function)) <= var.calendar_budget_per_min
      error_message = "The functions' Calendar budgets add up to ${sum(values(local.calendar_budget_by_function))}/min, above calendar_budget_per_min (${var.calendar_budget_per_min}): calendar_budget_shares sum to more than 1."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.build,
    google_artifact_registry_repository_iam_member.build,
    google_storage_bucket_iam_member.build_reads_source,
    google_secret_manager_secret_iam_member.accessor,
  ]
}

# run.invoker on each function for exactly the members its map entry names.
locals {
  invoker_bindings = merge([
    for fn, cfg in local.functions : {
      for label, member in cfg.invokers : "${fn}/${label}" => { function = fn, member = member }
    }
  ]...)
}

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = local.invoker_bindings

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# The two public bindings. Google Calendar pushes notifications without credentials;
# the webhook authenticates each one by its channel id and channel token.
resource "google_cloud_run_service_iam_member" "webhook_public" {
  #checkov:skip=CKV_GCP_102:Google Calendar pushes notifications without credentials; the webhook authenticates each by channel id and channel token.
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["calendar-webhook"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Users' browsers open connect (Google sign-in) without Google Cloud credentials; the
# flow is protected by its signed, browser-bound, single-use state and PKCE.
resource "google_cloud_run_service_iam_member" "connect_public" {
  #checkov:skip=CKV_GCP_102:Users' browsers open the Google sign-in flow without credentials; each callback is checked by its signed, cookie-bound, single-use state, PKCE and the verified ID token.
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn["connect"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
