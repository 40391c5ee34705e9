"""How a command answers: rich tables for people, stable JSON with `--json`.

Progress bars (rich) are drawn only when stdout is a terminal, and cleared when the
work is done, so piped output and `--json` are never mixed with them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class Output:
    def __init__(self, console: Console, *, as_json: bool) -> None:
        self.console = console
        self.as_json = as_json

    def json(self, data: Any, *, one_line: bool = False) -> None:
        """One JSON document (keys sorted, times ISO 8601); `one_line` for streams."""
        text = json.dumps(data, indent=None if one_line else 2, sort_keys=True, default=_plain)
        self.console.file.write(text + "\n")
        self.console.file.flush()

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        header: bool = True,
    ) -> None:
        if not rows:
            self.line(f"{title}: none")
            return
        table = Table(title=Text(title), title_justify="left", show_header=header)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell(v)) for v in row))  # data, never markup
        self.console.print(table)

    def records(self, title: str, items: Sequence[dict[str, Any]], columns: dict[str, str]) -> None:
        """A table of `items`: one column per (header, key) of `columns`."""
        rows = [[item.get(key) for key in columns.values()] for item in items]
        self.table(title, list(columns), rows)

    def listing(self, name: str, items: list[dict[str, Any]], columns: dict[str, str]) -> None:
        """A list command's result: `{name: items}` as JSON, else the table of `records`."""
        if self.as_json:
            self.json({name: items})
        else:
            self.records(name, items, columns)

    def pairs(self, title: str, values: dict[str, Any]) -> None:
        """A two-column table of named values."""
        self.table(title, ("", ""), [(k, v) for k, v in values.items()], header=False)

    def line(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False)

    @contextlib.contextmanager
    def progress(self, *, bar: bool = True) -> Iterator[Progress]:
        """A progress display, live only on a terminal (otherwise it draws nothing)."""
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if bar:
            columns += [BarColumn(), TextColumn("{task.completed:>6.0f}")]
        progress = Progress(
            *columns,
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,
        )
        with progress:
            yield progress


def cell(value: Any) -> str:
    """How a value reads in a table."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str) and _ISO.match(value):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """`3m ago` / `in 2h`: a time relative to now, for tables."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    span = abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if span >= size:
            amount = f"{span / size:.0f}{unit}"
            break
    else:
        amount = f"{span:.0f}s"
    return f"{amount} ago" if seconds >= 0 else f"in {amount}"


def iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
