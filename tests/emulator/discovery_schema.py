"""Validate response bodies against the discovery documents shipped with googleapiclient.

Strict on purpose: properties the schema does not define are errors, so the emulator
cannot drift into answering shapes the real API never sends.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import googleapiclient

JSON = dict[str, Any]

_DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
_VERSIONS = {
    "calendar": "calendar.v3",
    "meet": "meet.v2",
    "workspaceevents": "workspaceevents.v1",
    "directory": "admin.directory_v1",
}
"""Method-id prefix → discovery document (``directory.users.get`` is the Admin SDK's)."""


class SchemaError(AssertionError):
    """A response body that does not match its discovery schema."""


@functools.cache
def document(api: str) -> JSON:
    doc: JSON = json.loads((_DOCS / f"{_VERSIONS[api]}.json").read_text())
    return doc


def _methods(resources: JSON) -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    for resource in resources.values():
        for method in resource.get("methods", {}).values():
            found[method["id"]] = method
        found.update(_methods(resource.get("resources", {})))
    return found


@functools.cache
def _method_index(api: str) -> dict[str, JSON]:
    return _methods(document(api)["resources"])


def response_schema(method_id: str) -> JSON | None:
    """The response schema ($ref form) of a method id like ``calendar.events.list``."""
    api = method_id.split(".", 1)[0]
    method = _method_index(api).get(method_id)
    if method is None:
        raise KeyError(f"unknown method {method_id}")
    response: JSON | None = method.get("response")
    return response


def validate_response(method_id: str, body: Any) -> None:
    """Raise SchemaError unless ``body`` matches the method's response schema."""
    schema = response_schema(method_id)
    api = method_id.split(".", 1)[0]
    if schema is None:
        if body not in (None, "", b"", {}):
            raise SchemaError(f"{method_id} has no response body, got {body!r}")
        return
    validate(api, schema, body)


def validate_named(api: str, name: str, value: Any) -> None:
    """Check ``value`` against the document's schema ``name`` (e.g. an Operation's
    ``response``, typed ``any`` there: ``Subscription``)."""
    body = dict(value) if isinstance(value, dict) else value
    if isinstance(body, dict):
        body.pop("@type", None)
    validate(api, {"$ref": name}, body, f"${name}")


def validate(api: str, schema: JSON, value: Any, path: str = "$") -> None:
    """Check ``value`` against ``schema`` (resolving ``$ref`` in the api's document)."""
    doc = document(api)
    while "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected object, got {type(value).__name__}")
        props: JSON = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                validate(api, props[key], item, f"{path}.{key}")
            elif extra is not None:
                validate(api, extra, item, f"{path}.{key}")
            else:
                raise SchemaError(f"{path}: property {key!r} is not in the schema")
    elif kind == "array":
        if not isinstance(value, list):
            raise SchemaError(f"{path}: expected array, got {type(value).__name__}")
        for i, item in enumerate(value):
            validate(api, schema.get("items", {}), item, f"{path}[{i}]")
    elif kind == "string":
        _check_string(schema, value, path)
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(f"{path}: expected integer, got {value!r}")
    elif kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SchemaError(f"{path}: expected number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise SchemaError(f"{path}: expected boolean, got {value!r}")
    elif kind not in (None, "any"):
        raise SchemaError(f"{path}: unsupported schema type {kind}")


def _check_string(schema: JSON, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise SchemaError(f"{path}: expected string, got {value!r}")
    fmt = schema.get("format")
    try:
        if fmt in ("int64", "uint64"):
            int(value)
        elif fmt in ("date-time", "google-datetime"):
            datetime.fromisoformat(value)
        elif fmt == "date":
            date.fromisoformat(value)
        elif fmt == "google-duration" and not re.fullmatch(r"-?\d+(\.\d{1,9})?s", value):
            raise ValueError(value)
    except ValueError as exc:
        raise SchemaError(f"{path}: {value!r} is not a valid {fmt}") from exc
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        raise SchemaError(f"{path}: {value!r} not one of {enum}")
