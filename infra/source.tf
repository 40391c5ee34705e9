# The function source: main.py, functions/, shared/ and the repository's pinned
# requirements.txt, zipped (entries carry no timestamps, so equal sources give an
# equal archive) and uploaded under its own hash. A code change is a new object
# name, which redeploys every function; an old commit re-applied is its old
# archive again (see README, "Roll back").
locals {
  repo_root = "${path.module}/.."
  # requirements.txt is the repository's pinned (uv pip compile) file.
  source_root_files = ["main.py", "requirements.txt"]
  source_packages   = ["functions", "shared"]
  source_files = sort(concat(local.source_root_files, flatten([
    for pkg in local.source_packages : [
      for f in fileset(local.repo_root, "${pkg}/**") : f if !strcontains(f, "__pycache__")
    ]
  ])))
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/source.zip"

  dynamic "source" {
    for_each = toset(local.source_files)
    content {
      content  = file("${local.repo_root}/${source.value}")
      filename = source.value
    }
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only deployable source archives; reads and writes are recorded by Cloud Audit Logs, a usage-log bucket would add nothing.
  name     = "${var.project_id}-${var.name_prefix}-source"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # A replaced archive stays as a noncurrent version for rollbacks, then goes.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.source_versions_kept_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "source" {
  name   = "source/${data.archive_file.source.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# Images of the functions, in a repository of our own so that the build account
# can be given write access to this repository only.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images are rebuilt from the source archive on every deploy and hold no data; Google-managed encryption is kept to avoid operating a KMS key.
  repository_id = "${var.name_prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built from the function source archive."

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}
