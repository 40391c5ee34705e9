"""Transport-neutral request and response values passed between server and handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class Request:
    """One parsed HTTP request; header lookup is case-insensitive."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def qall(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON (empty body is ``{}``); raises ValueError when malformed."""
        if not self.body.strip():
            return {}
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json; charset=UTF-8"}
    )


def raw_json_response(text: str, status: int = 200) -> Response:
    """A response whose JSON text was assembled from cached fragments."""
    return Response(status, text.encode(), {"Content-Type": "application/json; charset=UTF-8"})


def empty_response(status: int = 204) -> Response:
    return Response(status)
