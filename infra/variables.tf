variable "project_id" {
  type        = string
  description = "Google Cloud project that holds every resource (functions, topics, Firestore, secrets)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the source bucket and the Artifact Registry repository."
  default     = "us-central1"
}

variable "scheduler_region" {
  type        = string
  description = "Region of the Cloud Scheduler jobs; null means var.region (set it where Cloud Scheduler is not offered in var.region)."
  default     = null
}

variable "name_prefix" {
  type        = string
  description = "Prefix of function, service account, bucket, repository and scheduler job names."
  default     = "meetsync"

  validation {
    # Service account ids are at most 30 characters: prefix + "-calendar-webhook" must fit.
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-13 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every labelled resource (the provider's default_labels)."
  default     = {}
}

variable "python_runtime" {
  type        = string
  description = "Cloud Functions runtime of every function."
  default     = "python312"

  validation {
    condition     = contains(["python311", "python312"], var.python_runtime)
    error_message = "python_runtime must be python311 or python312 (the versions the code is tested on)."
  }
}

variable "auth_mode" {
  type        = string
  description = "Default auth mode of user registrations. Each user has their own: `delegation` (domain-wide delegation through a keyless service account, registered by an operator) or `refresh_token` (the user connects with Google sign-in; stored, encrypted OAuth refresh token). Both kinds of users can live side by side."
  default     = "delegation"

  validation {
    condition     = contains(["delegation", "refresh_token"], var.auth_mode)
    error_message = "auth_mode must be delegation or refresh_token."
  }
}

variable "enable_delegation" {
  type        = bool
  description = "Create the delegation service account so operators may register Workspace users for domain-wide delegation (always on when auth_mode = delegation)."
  default     = true
}

variable "oauth_client_id" {
  type        = string
  description = "OAuth client (web application) id of Google sign-in: users connect themselves and their refresh tokens are stored (refresh_token users). Empty: no sign-in. Not a secret."
  default     = ""
}

variable "state_signing_key_secret_id" {
  type        = string
  description = "Id of the Secret Manager secret holding the key that signs the sign-in state (Google sign-in). The value is added out of band with gcloud."
  default     = "meetsync-state-signing-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.state_signing_key_secret_id))
    error_message = "state_signing_key_secret_id must be a secret id (not a value, not a resource path)."
  }
}

variable "connect_url" {
  type        = string
  description = "Address users open to connect (the connect function). Empty means its own https://REGION-PROJECT.cloudfunctions.net/NAME address; set it when a load balancer or custom domain fronts it. The OAuth redirect URI is this plus /oauth/callback."
  default     = ""

  validation {
    condition     = var.connect_url == "" || startswith(var.connect_url, "https://")
    error_message = "connect_url must be empty or an https:// URL."
  }
}

variable "connect_return_to_allowlist" {
  type        = list(string)
  description = "URLs a finished sign-in may send the browser back to (return_to): same scheme, host and port, at or below the path. Anything else gets the success page."
  default     = []

  validation {
    condition     = alltrue([for u in var.connect_return_to_allowlist : startswith(u, "https://")])
    error_message = "connect_return_to_allowlist entries must be https:// URLs."
  }
}

variable "connect_watches_primary" {
  type        = bool
  description = "Watch a user's primary calendar as soon as they connect."
  default     = true
}

variable "oauth_client_secret_secret_id" {
  type        = string
  description = "Id of the Secret Manager secret holding the OAuth client secret (refresh_token mode). The value is added out of band with gcloud."
  default     = "meetsync-oauth-client-secret"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.oauth_client_secret_secret_id))
    error_message = "oauth_client_secret_secret_id must be a secret id (not a value, not a resource path)."
  }
}

variable "token_encryption_key_secret_id" {
  type        = string
  description = "Id of the Secret Manager secret holding the Fernet key that encrypts stored refresh tokens (refresh_token mode). The value is added out of band with gcloud."
  default     = "meetsync-token-encryption-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.token_encryption_key_secret_id))
    error_message = "token_encryption_key_secret_id must be a secret id (not a value, not a resource path)."
  }
}

variable "create_meeting_invokers" {
  type        = list(string)
  description = "IAM members (e.g. serviceAccount:app@p.iam.gserviceaccount.com) allowed to call create_meeting."
  default     = []

  validation {
    condition     = alltrue([for m in var.create_meeting_invokers : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "create_meeting_invokers must be IAM members with a type prefix; allUsers and allAuthenticatedUsers are refused (only the webhook is public)."
  }
}

variable "import_events_invokers" {
  type        = list(string)
  description = "IAM members allowed to call import_events."
  default     = []

  validation {
    condition     = alltrue([for m in var.import_events_invokers : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "import_events_invokers must be IAM members with a type prefix; allUsers and allAuthenticatedUsers are refused."
  }
}

variable "operator_members" {
  type        = list(string)
  description = "IAM members (operators) who run the meetsync CLI: they may call watch_calendar and users, read and write Firestore, read and replay the dead letter, read the maintenance dead letter, follow meeting-events, run the renew and sweep jobs (publish to the maintenance topic), act as delegation users in-process (calendars resync, meetings show), and view logs and monitoring (operators.tf)."
  default     = []

  validation {
    condition     = alltrue([for m in var.operator_members : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):", m))])
    error_message = "operator_members must be IAM members with a type prefix; allUsers and allAuthenticatedUsers are refused."
  }
}

variable "private_ingress" {
  type        = string
  description = "Ingress of the IAM-protected functions that callers outside Google Cloud may reach (create_meeting, import_events, watch_calendar). ALLOW_INTERNAL_ONLY when every caller sits in the project's VPC."
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.private_ingress)
    error_message = "private_ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "max_instances" {
  type = object({
    calendar_webhook = optional(number, 50)
    sync_worker      = optional(number, 20)
    create_meeting   = optional(number, 20)
    watch_calendar   = optional(number, 10)
    renew_channels   = optional(number, 10)
    import_events    = optional(number, 10)
    users            = optional(number, 5)
    connect          = optional(number, 10)
    meet_events      = optional(number, 20)
    maintenance      = optional(number, 10)
  })
  description = "Maximum instances per function (sync_worker serves 8 requests at a time per instance, maintenance 4, the others 1); bounds cost and the load put on Calendar/Meet quotas. Each function that calls Calendar splits its share of calendar_budget_per_min (calendar_budget_shares) over its own instances, so raising its max_instances lowers only its own instances' rate."
  default     = {}

  validation {
    condition     = alltrue([for n in values(var.max_instances) : n >= 1 && n <= 100])
    error_message = "Every max_instances value must be between 1 and 100."
  }
}

variable "calendar_budget_per_min" {
  type        = number
  description = "The project's Calendar API budget, calls per minute, that every Calendar caller counts against. It is divided between the functions that call Calendar by calendar_budget_shares: each gets floor(this * its share) calls/min (CALENDAR_BUDGET_PER_MIN) and splits them over its max_instances (CALENDAR_BUDGET_INSTANCES), each instance running a token bucket; so the project never exceeds it. Google's quota is 10,000 requests/min per project (and 600/min per user; https://developers.google.com/calendar/api/guides/quota); keep headroom for other clients of the project's quota. Raise it only after Google raised the quota."
  default     = 8000

  validation {
    condition     = var.calendar_budget_per_min > 0 && var.calendar_budget_per_min <= 10000 && floor(var.calendar_budget_per_min) == var.calendar_budget_per_min
    error_message = "calendar_budget_per_min must be a whole number of calls per minute, above 0 and at most 10000 (Google's Calendar API quota per project)."
  }
}

variable "calendar_budget_shares" {
  type        = map(number)
  description = "Each Calendar-calling function's share of calendar_budget_per_min (keys: the functions' max_instances names). A function gets floor(calendar_budget_per_min * share) calls/min, spread over its own max_instances (infra/README.md, \"Calendar budget\"). Name every one of the eight, each share above 0 (a caller without one would fall back to the code's default, the whole budget per instance) and at most 1, summing to 1; calendar_webhook and meet_events never call Calendar and have none. Give the sync worker more when its signals keep going back to Pub/Sub (log \"Calendar budget spent; the signal goes back to Pub/Sub\"), an interactive function more when its requests get 503s for want of budget."
  default = {
    sync_worker    = 0.70 # syncs every changed calendar: the bulk of the calls
    maintenance    = 0.10 # channel renewal (watch + stop per channel)
    create_meeting = 0.08
    watch_calendar = 0.04
    import_events  = 0.03
    users          = 0.02
    connect        = 0.02
    renew_channels = 0.01 # dispatches only; holds the Calendar client through maintenance
  }

  validation {
    condition     = length(setsubtract(keys(var.calendar_budget_shares), ["sync_worker", "maintenance", "create_meeting", "watch_calendar", "import_events", "users", "connect", "renew_channels"])) == 0 && length(setsubtract(["sync_worker", "maintenance", "create_meeting", "watch_calendar", "import_events", "users", "connect", "renew_channels"], keys(var.calendar_budget_shares))) == 0
    error_message = "calendar_budget_shares must name exactly the functions that call Calendar: sync_worker, maintenance, create_meeting, watch_calendar, import_events, users, connect, renew_channels."
  }

  validation {
    condition     = alltrue([for share in values(var.calendar_budget_shares) : share > 0 && share <= 1])
    error_message = "Every calendar_budget_shares value must be above 0 (a Calendar caller without a share would fall back to the whole budget per instance) and at most 1."
  }

  validation {
    condition     = abs(sum(concat([0], values(var.calendar_budget_shares))) - 1) <= 0.001
    error_message = "calendar_budget_shares must sum to 1 (within 0.001)."
  }
}

variable "webhook_url" {
  type        = string
  description = "Address Google Calendar pushes notifications to. Empty means the webhook function's own https://REGION-PROJECT.cloudfunctions.net/NAME address; set it when a load balancer or custom domain fronts the webhook."
  default     = ""

  validation {
    condition     = var.webhook_url == "" || startswith(var.webhook_url, "https://")
    error_message = "webhook_url must be empty or an https:// URL (Google only pushes to HTTPS)."
  }
}

variable "api_roots" {
  type = object({
    calendar         = optional(string)
    meet             = optional(string)
    oauth_token      = optional(string)
    iam_credentials  = optional(string)
    oauth_auth       = optional(string)
    oauth_revoke     = optional(string)
    oauth_certs      = optional(string)
    workspace_events = optional(string)
    directory        = optional(string)
  })
  description = "Overrides of the Google API endpoints (CALENDAR_API_ROOT, MEET_API_ROOT, OAUTH_TOKEN_URI, IAM_CREDENTIALS_ROOT, OAUTH_AUTH_URI, OAUTH_REVOKE_URI, OAUTH_CERTS_URI, WORKSPACE_EVENTS_API_ROOT, DIRECTORY_API_ROOT). Null keeps the code's default (Google's public endpoints)."
  default     = {}

  validation {
    condition     = alltrue([for u in values(var.api_roots) : u == null ? true : startswith(u, "https://")])
    error_message = "api_roots values must be https:// URLs."
  }
}

variable "tuning" {
  type = object({
    channel_ttl_seconds       = optional(number)
    renew_window_seconds      = optional(number)
    sweep_age_seconds         = optional(number)
    audit_hours               = optional(number)
    channel_overlap_seconds   = optional(number)
    channel_cache_seconds     = optional(number)
    full_sync_days            = optional(number)
    lease_seconds             = optional(number)
    sync_settle_seconds       = optional(number)
    max_message_age_seconds   = optional(number)
    api_retries               = optional(number)
    conference_wait_seconds   = optional(number)
    pending_requeue_seconds   = optional(number)
    max_attendees             = optional(number)
    max_body_bytes            = optional(number)
    connect_state_ttl_seconds = optional(number)
  })
  description = "Optional overrides of the code's tuning settings (see shared/settings.py); null keeps the code's default."
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.tuning) : v == null ? true : v > 0])
    error_message = "Every tuning value must be positive."
  }
}

variable "log_level" {
  type        = string
  description = "Log level of every function."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "create_firestore_database" {
  type        = bool
  description = "Create the Firestore database. Set false when the project already has it (e.g. an existing (default) database)."
  default     = true
}

variable "firestore_database" {
  type        = string
  description = "Firestore database id the functions use."
  default     = "(default)"
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database (a multi-region such as nam5 or eur3, or a region). Cannot be changed after creation."
  default     = "nam5"
}

variable "renew_schedule" {
  type        = string
  description = "Cron schedule of channel renewal (POST {\"action\": \"renew\"} to renew_channels, which dispatches one renewal job per shard). Off the round minute so that it does not pile onto other jobs."
  default     = "7 */2 * * *"
}

variable "sweep_schedule" {
  type        = string
  description = "Cron schedule of the sweep (POST {\"action\": \"sweep\"} to renew_channels, which dispatches one sweep job per shard): each syncs the watched calendars nothing synced for tuning.sweep_age_seconds (default 6 h)."
  default     = "4-59/15 * * * *"
}

variable "audit_schedule" {
  type        = string
  description = "Cron schedule of the audit (POST {\"action\": \"audit\"} to renew_channels, which dispatches one audit job per shard): each re-reads the events of the meetings whose next audit (every tuning.audit_hours, default 24 h, spread) is due."
  default     = "37 * * * *"
}

variable "scheduler_time_zone" {
  type        = string
  description = "Time zone of the scheduler cron expressions."
  default     = "Etc/UTC"
}

variable "source_versions_kept_days" {
  type        = number
  description = "Days a replaced source archive stays in the source bucket (noncurrent versions) for rollbacks."
  default     = 90

  validation {
    condition     = var.source_versions_kept_days >= 1
    error_message = "source_versions_kept_days must be at least 1."
  }
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/ID) every alert policy notifies. Empty: incidents open, nobody is notified."
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "alert_notification_channels entries must be notification channel names, projects/PROJECT/notificationChannels/ID."
  }
}

variable "sync_lag_alert_seconds" {
  type        = number
  description = "Alert when the 95th percentile from a Google notification to the meeting records written stays above this many seconds (5-minute windows)."
  default     = 30

  validation {
    condition     = var.sync_lag_alert_seconds > 0
    error_message = "sync_lag_alert_seconds must be positive."
  }
}
