"""`python -m meetsync_cli`: the same as the `meetsync` console script."""

from meetsync_cli.app import main

raise SystemExit(main())
