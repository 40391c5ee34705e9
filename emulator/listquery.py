"""List filters (Google's AIP-160 subset) and page tokens for the Meet and Events lists.

Filters are what the APIs document: comparisons (``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=``, and ``:`` for "has"), ``IS NULL`` / ``IS NOT NULL``, ``AND`` (or juxtaposition),
``OR``, ``NOT`` and parentheses; values quoted (``"spaces/x"``) or bare. Each list says
which fields it knows; anything else is the API's 400 ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.clock import parse_rfc3339
from emulator.errors import ApiError, meet_error

_OPS = ("<=", ">=", "!=", "=", "<", ">", ":")


@dataclass
class Comparison:
    field: str
    op: str
    value: str | None
    """None with op ``IS`` / ``IS NOT``: a NULL test."""


@dataclass
class Not:
    inner: Node


@dataclass
class Bool:
    op: str
    """``AND`` or ``OR``."""
    left: Node
    right: Node


Node = Comparison | Not | Bool
Getter = Callable[[str], Any]
"""A field's value on one item: str, float (a timestamp), a list of str, or None."""


def _bad(message: str) -> ApiError:
    return meet_error(400, message, "INVALID_ARGUMENT")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek_char(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def word(self) -> str:
        """A bare word: letters, digits and ``._-`` (field names, keywords)."""
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "._-"
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def peek_word(self) -> str:
        saved = self.pos
        found = self.word()
        self.pos = saved
        return found

    def operator(self) -> str | None:
        self.skip()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def value(self) -> str:
        """A quoted string (with backslash escapes) or a bare run up to space or paren."""
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            self.pos += 1
            out: list[str] = []
            while self.pos < len(self.text):
                ch = self.text[self.pos]
                if ch == "\\" and self.pos + 1 < len(self.text):
                    out.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
                if ch == '"':
                    self.pos += 1
                    return "".join(out)
                out.append(ch)
                self.pos += 1
            raise _bad("Invalid filter: unterminated string.")
        start = self.pos
        while self.pos < len(self.text) and not (
            self.text[self.pos].isspace() or self.text[self.pos] in "()"
        ):
            self.pos += 1
        if start == self.pos:
            raise _bad("Invalid filter: a value is missing.")
        return self.text[start : self.pos]


def parse(text: str, fields: set[str]) -> Node:
    """Parse a filter over ``fields``; 400 INVALID_ARGUMENT when malformed."""
    scanner = _Scanner(text)
    node = _or(scanner, fields)
    if not scanner.at_end():
        raise _bad(f"Invalid filter: unexpected text at {scanner.pos}.")
    return node


def _or(s: _Scanner, fields: set[str]) -> Node:
    node = _and(s, fields)
    while s.peek_word() == "OR":
        s.word()
        node = Bool("OR", node, _and(s, fields))
    return node


def _and(s: _Scanner, fields: set[str]) -> Node:
    node = _unary(s, fields)
    while not s.at_end() and s.peek_char() != ")" and s.peek_word() != "OR":
        if s.peek_word() == "AND":
            s.word()
        node = Bool("AND", node, _unary(s, fields))
    return node


def _unary(s: _Scanner, fields: set[str]) -> Node:
    if s.peek_word() == "NOT":
        s.word()
        return Not(_unary(s, fields))
    if s.peek_char() == "-":
        s.pos += 1
        return Not(_unary(s, fields))
    if s.peek_char() == "(":
        s.pos += 1
        node = _or(s, fields)
        if s.peek_char() != ")":
            raise _bad("Invalid filter: missing ')'.")
        s.pos += 1
        return node
    field = s.word()
    if not field:
        raise _bad("Invalid filter: a field name is expected.")
    if field not in fields:
        raise _bad(f'Invalid filter: unknown field "{field}".')
    if s.peek_word() == "IS":
        s.word()
        negate = s.peek_word() == "NOT"
        if negate:
            s.word()
        if s.word() != "NULL":
            raise _bad("Invalid filter: IS must be followed by NULL or NOT NULL.")
        return Comparison(field, "IS NOT" if negate else "IS", None)
    op = s.operator()
    if op is None:
        raise _bad(f'Invalid filter: an operator is expected after "{field}".')
    return Comparison(field, op, s.value())


def _as_time(text: str) -> float:
    dt = parse_rfc3339(text)
    if dt is None:
        raise _bad(f'Invalid filter: "{text}" is not an RFC 3339 timestamp.')
    return dt.timestamp()


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, list):
        return any(_compare(a, "=" if op == ":" else op, wanted) for a in actual)
    if actual is None:
        return op == "!="
    if isinstance(actual, float):
        expected: Any = _as_time(wanted)
    else:
        actual, expected = str(actual), wanted
    if op in ("=", ":"):
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    if op == ">":
        return bool(actual > expected)
    return bool(actual >= expected)


def matches(node: Node, get: Getter) -> bool:
    """Whether one item (its fields through ``get``) satisfies the filter."""
    if isinstance(node, Bool):
        if node.op == "AND":
            return matches(node.left, get) and matches(node.right, get)
        return matches(node.left, get) or matches(node.right, get)
    if isinstance(node, Not):
        return not matches(node.inner, get)
    actual = get(node.field)
    if node.op == "IS":
        return actual is None
    if node.op == "IS NOT":
        return actual is not None
    assert node.value is not None
    return _compare(actual, node.op, node.value)


def validate_times(node: Node, time_fields: set[str]) -> None:
    """Refuse a malformed timestamp up front (even if no item would reach it)."""
    if isinstance(node, Bool):
        validate_times(node.left, time_fields)
        validate_times(node.right, time_fields)
    elif isinstance(node, Not):
        validate_times(node.inner, time_fields)
    elif node.field in time_fields and node.value is not None:
        _as_time(node.value)


def fields_in(node: Node) -> set[str]:
    if isinstance(node, Bool):
        return fields_in(node.left) | fields_in(node.right)
    if isinstance(node, Not):
        return fields_in(node.inner)
    return {node.field}


# -- pages -------------------------------------------------------------------------------


def page_size(raw: str | None, default: int, maximum: int) -> int:
    """Google's rule: unspecified or 0 is the default, above the maximum is the maximum."""
    if raw in (None, ""):
        return default
    try:
        size = int(str(raw))
    except ValueError as exc:
        raise _bad("Invalid value for page_size.") from exc
    if size < 0:
        raise _bad("page_size must not be negative.")
    return default if size == 0 else min(size, maximum)


def page(items: list[Any], token: str | None, size: int, key: str) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next (bound to the list's ``key``)."""
    offset = 0
    if token:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset = int(data["o"])
            if data.get("k") != key or offset < 0:
                raise ValueError("token of another list")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise _bad("Invalid page token.") from exc
    chunk = items[offset : offset + size]
    following = offset + size
    if following >= len(items):
        return chunk, None
    raw = json.dumps({"o": following, "k": key}, separators=(",", ":")).encode()
    return chunk, base64.urlsafe_b64encode(raw).decode().rstrip("=")
