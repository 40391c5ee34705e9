"""The `meetsync` operator command line (`meetsync_cli.app.main`). An operator tool,
not deployed with the functions: it may import anything of the product, and nothing
of the product imports it (a contract in pyproject.toml)."""
