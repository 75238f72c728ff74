"""The one JSON body reader: what orjson accepts but the platform refuses, and where it points."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journalloft.platform.core.errors import BadRequest, InvalidContent, Problem
from journalloft.platform.http.body import MAX_DEPTH, parse_json


def refusal(body: bytes) -> Problem:
    with pytest.raises(Problem) as caught:
        parse_json(body)
    return caught.value


def pointers(problem: Problem) -> list[str]:
    return [e.pointer for e in problem.errors]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 1023, 1024, 1025, 5000, 100_000])
def test_too_deep_points_at_the_first_container_beyond_the_limit(depth: int) -> None:
    """Within orjson's own limit (1024) the parsed value is walked; beyond it, the raw text."""
    body = b'{"a/b": [1, {"x": "[", "k~": ' + b"[" * depth + b"]" * depth + b"}]}"
    problem = refusal(body)
    assert isinstance(problem, BadRequest)
    [pointer] = pointers(problem)
    assert pointer == "/a~1b/1/k~0" + "/0" * (MAX_DEPTH - 3)


def test_the_depth_limit_itself_is_accepted() -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(body) is not None
    objects = b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH
    assert parse_json(objects) is not None
    problem = refusal(b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1))
    assert pointers(problem) == ["/a" * MAX_DEPTH]


def test_keys_written_differently_are_still_the_same_key() -> None:
    problem = refusal(b'{"records": [{"a": 1, "\\u0061" : 2}]}')
    assert isinstance(problem, BadRequest)
    assert [(e.pointer, e.message) for e in problem.errors] == [
        ("/records/0", 'has the key "a" more than once')
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 1023])
def test_a_deep_value_hidden_behind_a_later_one_of_the_same_key_is_too_deep(depth: int) -> None:
    """orjson keeps the last value of a key, so the first may be deeper than what it parsed;
    the second parse, which sees it, must not fail on it (at Python's default recursion limit,
    as the server runs)."""
    body = b'{"a": [' + b"[" * depth + b"]" * depth + b'], "a": 1}'
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        problem = refusal(body)
    finally:
        sys.setrecursionlimit(raised)
    assert isinstance(problem, BadRequest)
    if depth > MAX_DEPTH + 1:  # deeper than the standard parser goes: refused as too deep
        assert pointers(problem) == ["/a" + "/0" * (MAX_DEPTH - 1)]
        assert "deep" in problem.detail
    else:  # the standard parser reads it: refused for the key given twice
        assert pointers(problem) == [""]
        assert "same key" in problem.detail


def test_every_object_with_a_duplicate_is_named_once_per_key() -> None:
    body = b'{"x": {"a": 1, "a": 2, "a": 3, "b": 1, "b": 2}, "y": [{"c": 1, "c": 1}]}'
    problem = refusal(body)
    assert [(e.pointer, e.message) for e in problem.errors] == [
        ("/x", 'has the key "a" more than once'),
        ("/x", 'has the key "b" more than once'),
        ("/y/0", 'has the key "c" more than once'),
    ]


def test_numbers_the_standard_parser_would_choke_on_are_no_problem() -> None:
    """The second parse only looks at keys: numbers are not converted (the standard parser
    refuses integers of more than 4300 digits)."""
    fraction = b"0." + b"0" * 5000 + b"1"
    problem = refusal(b'{"a": ' + fraction + b', "a": ' + b"9" * 300 + b"}")
    assert [(e.pointer, e.message) for e in problem.errors] == [
        ("", 'has the key "a" more than once')
    ]
    too_big = refusal(b'{"a": ' + b"9" * 5000 + b"}")
    assert isinstance(too_big, BadRequest)
    assert "not valid JSON" in too_big.detail


def test_u0000_in_keys_and_values_is_pointed_at() -> None:
    problem = refusal(b'{"a": ["ok", "x\\u0000"], "b\\u0000": {"c": "\\u0000"}}')
    assert isinstance(problem, InvalidContent)
    assert pointers(problem) == ["/a/1", "/b\x00", "/b\x00/c"]


@pytest.mark.parametrize(
    "body",
    [
        b'"C:\\\\u0000"',
        b'{"a": "\\\\u0000"}',
        b'{"\\"a\\": 1, \\"a\\" :": "\\" :"}',
        b'{"a": "x\\" : y", "b": "\\":"}',
        b"[]",
        b"{}",
        b"1",
        b'"\\ud83d\\ude00 \\u202e"',
    ],
)
def test_what_only_looks_like_a_nul_or_a_key_is_accepted(body: bytes) -> None:
    assert parse_json(body) == json.loads(body)


KEYS = st.sampled_from(["a", "b", "\\u0061", 'q\\"', 'q\\" :', "~/"])
WHITESPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])


@st.composite
def json_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON text with arbitrary whitespace, keys that may repeat, and strings with quotes and
    colons in them."""
    ws = draw(WHITESPACE)
    kind = draw(
        st.sampled_from(["scalar", "string", "array", "object"] if depth < 4 else ["scalar"])
    )
    if kind == "scalar":
        return draw(st.sampled_from(["1", "-0.5e3", "true", "null", "12345678901234567890123"]))
    if kind == "string":
        return '"' + draw(st.sampled_from(["", 'x\\":', '\\" :', ":", "\\\\", "\\u0000"])) + '"'
    children = draw(st.lists(json_texts(depth + 1), max_size=4))
    if kind == "array":
        return "[" + ws + ("," + ws).join(children) + ws + "]"
    keys = draw(st.lists(KEYS, min_size=len(children), max_size=len(children)))
    members = [f'"{k}"{ws}:{ws}{v}' for k, v in zip(keys, children, strict=True)]
    return "{" + ws + ("," + ws).join(members) + ws + "}"


def _pairs_repeat(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise KeyError("duplicate")
    return dict(pairs)


@settings(max_examples=300, deadline=None)
@given(json_texts())
def test_the_shortcut_never_misses_a_duplicate_key(text: str) -> None:
    """The raw key count is an upper bound: a duplicate is always found, whatever the
    whitespace and whatever quotes and colons the strings hold."""
    body = text.encode()
    try:
        json.loads(body, object_pairs_hook=_pairs_repeat)
        duplicated = False
    except KeyError:
        duplicated = True
    try:
        parse_json(body)
        refused_as = None
    except Problem as problem:
        refused_as = type(problem)
    if duplicated:
        assert refused_as is BadRequest
    else:
        assert refused_as in (None, InvalidContent)
