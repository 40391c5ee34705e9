"""Partial responses: the `fields` parameter every Google JSON API takes.

Syntax, as Google documents it: a comma-separated list of field names; `a/b` selects
`b` inside `a`; `a(b,c)` selects `b` and `c` inside `a`; `*` every field at its level; a
selection inside an array applies to each element, and selections of one field add up
(`a(b),a(c)` is `a(b,c)`). Anything else is the API's 400 "Invalid field selection".
"""

from __future__ import annotations

from typing import Any

from emulator.errors import ApiError, bad_param

Mask = dict[str, "Mask | None"]
"""Selected field → the selection inside it (None: the whole field)."""


def parse(text: str) -> Mask:
    """The selection `text` names; 400 when it is malformed."""
    compact = text.replace(" ", "")
    mask, pos = _list(compact, 0)
    if pos != len(compact):
        raise _invalid(text)
    return mask


def _list(text: str, pos: int) -> tuple[Mask, int]:
    mask: Mask = {}
    pos = _path(text, pos, mask)
    while pos < len(text) and text[pos] == ",":
        pos = _path(text, pos + 1, mask)
    return mask, pos


def _path(text: str, pos: int, into: Mask) -> int:
    start = pos
    if text.startswith("*", pos):
        pos += 1
    else:
        while pos < len(text) and (text[pos].isalnum() or text[pos] in "_$."):
            pos += 1
    name = text[start:pos]
    if not name:
        raise _invalid(text)
    if pos < len(text) and text[pos] in "/(":
        inner: Mask = {}
        if text[pos] == "/":
            pos = _path(text, pos + 1, inner)
        else:
            inner, pos = _list(text, pos + 1)
            if pos >= len(text) or text[pos] != ")":
                raise _invalid(text)
            pos += 1
        _merge(into, name, inner)
        return pos
    into[name] = None
    return pos


def _merge(into: Mask, name: str, inner: Mask) -> None:
    """Add `inner` to the selection of `name`, however deep (a field selected whole stays
    whole: `a,a/b` is `a`)."""
    if name not in into:
        into[name] = inner
        return
    current = into[name]
    if current is None:
        return
    for key, sub in inner.items():
        if sub is None:
            current[key] = None
        else:
            _merge(current, key, sub)


def apply(value: Any, mask: Mask | None) -> Any:
    """`value` cut down to `mask` (each element of an array alike)."""
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply(v, mask) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in mask:  # every field, each cut to what is selected inside it or to `*`'s
        return {k: apply(v, mask.get(k, mask["*"])) for k, v in value.items()}
    return {k: apply(value[k], sub) for k, sub in mask.items() if k in value}


def _invalid(text: str) -> ApiError:
    return bad_param("fields", f"Invalid field selection {text}")
