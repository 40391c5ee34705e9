locals {
  labels = merge(var.labels, {
    app        = "meetsync"
    managed-by = "terraform"
  })
}
