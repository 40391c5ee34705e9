"""Checks HTTP answers against `functions/openapi.json`: the status is documented for
the operation and the body validates against the documented schema."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC_PATH = Path(__file__).resolve().parents[2] / "functions" / "openapi.json"


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return data


def documented(path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec()["paths"][path][method.lower()]
    return operation


def check(path: str, method: str, status: int, body: Any, content_type: str = "") -> None:
    """Assert that (status, body) is what the spec documents for `method path`."""
    responses = documented(path, method)["responses"]
    assert str(status) in responses, f"{method} {path} answered undocumented {status}: {body}"
    content = responses[str(status)].get("content", {})
    if not content:
        return
    if content_type:
        assert content_type.split(";")[0] in content, f"{content_type} not documented"
    schema = content["application/json"]["schema"]
    root = {**spec(), **schema}  # $refs resolve against the whole document
    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(root).iter_errors(body)]
    assert not errors, f"{method} {path} {status} does not match the spec: {errors}"
