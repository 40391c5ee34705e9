"""Operator command line. `import` sends an .ics file to the import_events function.

    python -m shared.cli import --user alice@example.com [--calendar primary] FILE.ics
        [--url https://REGION-PROJECT.cloudfunctions.net/import_events]

Without `--url` the local stack's address is read from `.local/stack.json` (written
by `make dev`). With `--token` (or env MEETSYNC_ID_TOKEN) the call carries an
identity token, as an IAM-protected deployed function needs. Prints the per-event
results as JSON; exits 1 if any event failed, 2 if the request was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STACK_FILE = Path(__file__).resolve().parent.parent / ".local" / "stack.json"


def _local_url() -> str:
    try:
        stack: dict[str, Any] = json.loads(STACK_FILE.read_text())
        return str(stack["functions"]["import_events"])
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"no --url and no local stack description ({STACK_FILE}): {exc}") from None


def import_file(
    url: str, user: str, calendar_id: str, data: bytes, token: str = ""
) -> tuple[int, Any]:
    """POST the file; answers (HTTP status, JSON body)."""
    query = urllib.parse.urlencode({"user": user, "calendarId": calendar_id})
    request = urllib.request.Request(  # noqa: S310 - URL given by the operator
        f"{url.rstrip('/')}/?{query}", data=data, method="POST"
    )
    request.add_header("Content-Type", "text/calendar")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="import an .ics file into a user's calendar")
    imp.add_argument("file", type=Path)
    imp.add_argument("--user", required=True)
    imp.add_argument("--calendar", default="primary")
    imp.add_argument("--url", default="")
    imp.add_argument("--token", default=os.environ.get("MEETSYNC_ID_TOKEN", ""))
    args = parser.parse_args(argv)
    status, body = import_file(
        args.url or _local_url(), args.user, args.calendar, args.file.read_bytes(), args.token
    )
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if status >= 300:
        return 2
    return 1 if any(r.get("status") == "failed" for r in body.get("results", [])) else 0


if __name__ == "__main__":
    raise SystemExit(main())
