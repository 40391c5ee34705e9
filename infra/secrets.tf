# Secrets are created and given their values out of band (gcloud, see README), so
# that no secret value ever enters Terraform state. Terraform only references
# them by id, deploys them as secret environment variables (functions.tf) and
# lets each function's account read exactly these secrets. They are needed as soon
# as Google sign-in is used (an OAuth client is set); delegation alone needs none.
locals {
  secret_accessors = merge([
    for fn, _ in local.functions : {
      for env, secret in local.secret_env_deployed : "${fn}/${env}" => { function = fn, secret = secret }
    }
  ]...)
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_accessors

  project   = var.project_id
  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.fn[each.value.function].email}"
}
