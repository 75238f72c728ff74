"""JSON as the platform reads it, wherever it comes from (a request body, a token's claim): the
one parser, with the platform's limits (:func:`parse_json`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from journalloft.platform.core.errors import BadRequest, FieldError
from journalloft.platform.core.strings import refuse_flaws

MAX_DEPTH = 32
"""How deep a body may nest arrays and objects: the top-level value is 1, ``{"records": [{…}]}``
is 3 deep. Every body of the API is at most 4 deep; anything deeper is refused before a
recursive validator sees it."""

_KEY_END = bytes.maketrans(b'" \t\n\r', b"\x01\x01\x01\x01\x01")
"""Turns every quote and whitespace byte into 0x01, a byte valid JSON never holds raw: a count of
0x01 before a colon then counts every key (its closing quote or whitespace comes before its colon)
and perhaps a few look-alikes inside strings, never fewer."""
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_TOKENS_SEARCHED = 200_000
_SKIP = object()


def parse_json(body: bytes) -> Any:
    """Parse a body with orjson and refuse what orjson lets through but the platform must not
    take, without walking anything recursively:

    - deeper than :data:`MAX_DEPTH`: one iterative pass over the parsed value, which also counts
      the members of every object;
    - a key twice in one object (orjson keeps the last value): the members counted are compared
      with a count of the keys in the raw body (every colon after a quote or whitespace, an
      upper bound); only when they differ is the body parsed again by a parser that sees every
      pair, to name the object and the key;
    - U+0000, which JSON can only write as ``\\u0000``: searched for in the raw body, and only
      when found are the strings walked to point at it.

    Measured on a 1 MB ingest batch (2 600 NEWS2 records, on a busy 2-core VM): orjson about
    5 ms, these checks about 4 ms more (walk 1.8, key count 1.5, U+0000 0.7); the second parse,
    only when the counts differ, about 11 ms. ``python -m bench.json_body`` measures again.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg == "depth limit exceeded":
            raise _too_deep(_deep_in_text(body)) from exc
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    members = _members_within_depth(value)
    if members and body.translate(_KEY_END).count(b"\x01:") != members:
        _refuse_duplicate_keys(body)
    if b"\\u0000" in body:
        _refuse_nul(value)
    return value


def _escape(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _too_deep(pointer: str) -> BadRequest:
    return BadRequest(
        f"the body nests arrays and objects more than {MAX_DEPTH} deep",
        errors=[FieldError(pointer, f"is nested more than {MAX_DEPTH} deep")],
    )


def _members_within_depth(value: Any) -> int:
    """How many members the objects in ``value`` have; BadRequest if it nests too deep."""
    members = 0
    level: list[Any] = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep(_deep_in_value(value))
        below = []
        for node in level:
            children: Any = node
            if type(node) is dict:
                members += len(node)
                children = node.values()
            for child in children:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return members


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every value in ``value`` with its JSON Pointer, in document order, without recursion.

    The caller stops before a container nested deeper than it will go."""
    stack = [("", value)]
    while stack:
        pointer, node = stack.pop()
        yield pointer, node
        if type(node) is dict:
            stack.extend((f"{pointer}/{_escape(k)}", v) for k, v in reversed(node.items()))
        elif type(node) is list:
            stack.extend((f"{pointer}/{i}", node[i]) for i in range(len(node) - 1, -1, -1))


def _deep_in_value(value: Any) -> str:
    """The pointer of the first container nested more than :data:`MAX_DEPTH` deep."""
    for pointer, node in _walk(value):
        if (type(node) is dict or type(node) is list) and pointer.count("/") >= MAX_DEPTH:
            return pointer
    return ""


def _deep_in_text(body: bytes) -> str:
    """As :func:`_deep_in_value` for a body too deep for orjson to parse, found by reading its
    tokens; the whole body (``""``) if that is not found within the first 200 000 tokens."""
    path: list[Any] = []  # per open container: its current key (object) or index (array)
    expects_key: list[bool] = []
    for count, match in enumerate(_TOKEN.finditer(body)):
        token = match[0]
        if count > _TOKENS_SEARCHED:
            break
        if token in (b"[", b"{"):
            if len(path) >= MAX_DEPTH:
                return "".join(f"/{_escape(p)}" for p in path)
            path.append(0 if token == b"[" else _SKIP)
            expects_key.append(token == b"{")
        elif token in (b"]", b"}"):
            if path:
                path.pop()
                expects_key.pop()
        elif token == b",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
            elif expects_key:
                expects_key[-1] = True
        elif expects_key and expects_key[-1]:
            try:
                path[-1] = orjson.loads(token)
            except orjson.JSONDecodeError:
                path[-1] = token[1:-1].decode("utf-8", errors="replace")
            expects_key[-1] = False
    return ""


class _Duplicated(dict[str, Any]):
    """An object of the body that has a key more than once; ``again`` names those keys."""

    again: list[str]


def _refuse_duplicate_keys(body: bytes) -> None:
    """BadRequest naming each object that has a key more than once, and the key, if one has.

    The standard parser sees every pair; numbers are not even converted. What orjson kept is
    within :data:`MAX_DEPTH`, but a value it dropped for a later one of the same key need not
    be: that is refused as too deep. Only when a duplicate was found is the result walked for
    the pointers."""
    duplicated = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        members = dict(items)
        if len(members) == len(items):
            return members
        duplicated += 1
        named = Counter(key for key, _ in items)
        found = _Duplicated(members)
        found.again = [key for key, times in named.items() if times > 1]
        return found

    try:
        value = json.loads(body, object_pairs_hook=pairs, parse_int=_ignore, parse_float=_ignore)
    except RecursionError:  # too deep where orjson kept another value of a key given twice
        raise _too_deep(_deep_in_text(body)) from None
    if not duplicated:
        return
    errors = []
    for pointer, node in _walk(value):
        if isinstance(node, _Duplicated):
            errors += [
                FieldError(
                    pointer, f"has the key {json.dumps(k, ensure_ascii=False)} more than once"
                )
                for k in node.again
            ]
            duplicated -= 1
            if not duplicated:
                break
    raise BadRequest("an object in the body has the same key more than once", errors=errors)


def _ignore(_: str) -> None:
    return None


def _refuse_nul(value: Any) -> None:
    """InvalidContent pointing at every string (value or key) that holds U+0000: the platform's
    one rule for strings (:mod:`journalloft.platform.core.strings`; orjson has refused the rest of
    it, lone surrogates and invalid UTF-8, already)."""
    refuse_flaws(value, where="the body")
