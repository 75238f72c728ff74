"""The one rule for every string a client sends: it must be text that every store can hold and
every encoder can write.

Refused wherever a client can put a string (body, query string, path, headers, form, and the
header and claims of every JWT it sends: access tokens, DPoP proofs, client assertions,
attestations):

- U+0000 (NUL): PostgreSQL's ``text`` cannot hold it, and it cannot be compared there;
- a lone surrogate (U+D800 to U+DFFF outside a pair): no UTF-8 encoder writes it, so neither
  PostgreSQL, nor SQLite, nor Redis, nor orjson can take it;
- invalid UTF-8 in a URL's or form's percent-escapes: decoding it "with replacement" would turn
  different ids into one (U+FFFD), so it is refused rather than guessed;
- other control characters (U+0001 to U+001F, U+007F) in a URL, a form (where a value may
  hold tabs and line breaks) and a header's raw bytes (where a tab is allowed): no id, code or
  name in a URL has them, and a header cannot carry them.

A string that breaks the rule anywhere is refused before anything reads or writes data; an
audit event written later holds only strings that passed. Bodies get the same rule from the JSON
reader (:mod:`journalloft.platform.http.body`), whose parser already refuses lone surrogates and
invalid UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from journalloft.platform.core.errors import BadRequest, FieldError, InvalidContent

NUL_FLAW = "contains U+0000 (NUL), which is not accepted"
SURROGATE_FLAW = "contains a lone surrogate (U+D800 to U+DFFF), which is not text"
CONTROL_FLAW = "contains a control character (U+0000 to U+001F or U+007F), which is not accepted"
UTF8_FLAW = "has a percent-escape that is not UTF-8"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_FORM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
"""Bytes no header value may hold: controls other than horizontal tab (RFC 9110 §5.5)."""


def string_flaw(value: str) -> str | None:
    """Why ``value`` cannot be stored or encoded (NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return NUL_FLAW
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_FLAW
    return None


def escape(key: object) -> str:
    """A member name as one step of a JSON Pointer (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every value in ``value`` with its JSON Pointer, in document order, without recursion."""
    stack = [("", value)]
    while stack:
        pointer, node = stack.pop()
        yield pointer, node
        if type(node) is dict:
            stack.extend((f"{pointer}/{escape(k)}", v) for k, v in reversed(node.items()))
        elif type(node) is list:
            stack.extend((f"{pointer}/{i}", node[i]) for i in range(len(node) - 1, -1, -1))


def flaws_in(value: Any, *, prefix: str = "") -> list[FieldError]:
    """Every string (value or member name) in a parsed JSON value that breaks the rule, by
    JSON Pointer under ``prefix``; sorted by pointer."""
    errors = []
    for pointer, node in walk(value):
        if type(node) is str:
            flaw = string_flaw(node)
            if flaw is not None:
                errors.append(FieldError(prefix + pointer, flaw))
        elif type(node) is dict:
            for key in node:
                flaw = string_flaw(key) if type(key) is str else None
                if flaw is not None:
                    errors.append(
                        FieldError(f"{prefix}{pointer}/{escape(key)}", "its name " + flaw)
                    )
    errors.sort(key=lambda e: e.pointer)
    return errors


def refuse_flaws(value: Any, *, where: str, prefix: str = "") -> None:
    """:class:`InvalidContent` pointing at every string in ``value`` that breaks the rule."""
    errors = flaws_in(value, prefix=prefix)
    if errors:
        raise InvalidContent(f"a string in {where} cannot be stored", errors=errors)


class UnstorableText(ValueError):
    """A string that breaks the rule, in a value that is not a body (a JWT's claims): the
    message names where, as ``claim /jti contains …``."""


def check_claims(part: str, value: Any) -> None:
    """Raise :class:`UnstorableText` naming the first string in a JWT's header or claims that
    breaks the rule (``part`` is ``header`` or ``claim``)."""
    errors = flaws_in(value)
    if errors:
        raise UnstorableText(f"{part} {errors[0].pointer or '/'} {errors[0].message}")


def form_pairs(
    text: str | bytes, *, prefix: str, whitespace: bool = False
) -> list[tuple[str, str]]:
    """The name-value pairs of a query string or an ``application/x-www-form-urlencoded`` body,
    decoded exactly as Starlette decodes them (``+`` is a space, percent-escapes are UTF-8) but
    refusing what cannot be decoded or stored: :class:`BadRequest` for invalid UTF-8 (raw or
    percent-escaped), :class:`InvalidContent` for a control character (NUL included) in a name
    or a value; pointers are ``{prefix}/{name}``. ``whitespace``: a form body's values may hold
    tabs and line breaks (``authorization_details`` as indented JSON); a URL's never.

    The one decoder of these: the query string of every request (checked by the middleware
    before any route reads it), the token endpoint's form, a FHIR transaction entry's URL."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                "the form or query string is not UTF-8",
                errors=[FieldError(prefix, "is not UTF-8")],
            ) from None
    if text.isascii() and "%" not in text and not _CONTROL.search(text):  # nothing to check
        return parse_qsl(text, keep_blank_values=True)
    pairs: list[tuple[str, str]] = []
    broken: list[FieldError] = []
    unclean: list[FieldError] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _eq, value = field.partition("=")
        try:
            key, val = _unquote(name), _unquote(value)
        except UnicodeError:
            broken.append(FieldError(f"{prefix}/{escape(_unquote_lossy(name))}", UTF8_FLAW))
            continue
        at = f"{prefix}/{escape(key)}"
        if (flaw := _text_flaw(val, whitespace=whitespace)) is not None:
            unclean.append(FieldError(at, flaw))
        elif (flaw := _text_flaw(key)) is not None:
            unclean.append(FieldError(at, "its name " + flaw))
        else:
            pairs.append((key, val))
    if broken:
        raise BadRequest("a percent-escape is not UTF-8", errors=broken)
    if unclean:
        raise InvalidContent("a name or value cannot be accepted", errors=unclean)
    return pairs


def _unquote(part: str) -> str:
    return unquote_to_bytes(part.replace("+", " ")).decode("utf-8")


def _unquote_lossy(part: str) -> str:
    return unquote_to_bytes(part.replace("+", " ")).decode("utf-8", errors="replace")


def _text_flaw(value: str, *, whitespace: bool = False) -> str | None:
    if (_CONTROL_IN_FORM if whitespace else _CONTROL).search(value):
        return NUL_FLAW if "\x00" in value else CONTROL_FLAW
    return string_flaw(value)


def header_flaws(headers: Iterable[tuple[bytes, bytes]]) -> list[FieldError]:
    """Every request header whose raw value holds a control byte (NUL included; a tab is
    allowed), by pointer ``/headers/{name}``."""
    return [
        FieldError(f"/headers/{escape(name.decode('latin-1').lower())}", CONTROL_FLAW)
        for name, value in headers
        if _CONTROL_BYTES.search(value) or _CONTROL_BYTES.search(name)
    ]


def check_request(
    *, query: bytes, raw_path: bytes | None, headers: Iterable[tuple[bytes, bytes]]
) -> None:
    """The rule for what an HTTP request carries outside its body, checked before any route
    reads it: its query string (ASCII, decoded by :func:`form_pairs`), its path's
    percent-escapes (UTF-8) and its headers (no control bytes). Raises the problem."""
    if query:
        if not query.isascii():
            raise BadRequest(
                "the query string is not ASCII",
                errors=[FieldError("/query", "percent-encode every character beyond ASCII")],
            )
        form_pairs(query.decode("ascii"), prefix="/query")
    if raw_path and b"%" in raw_path:
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                "a percent-escape in the path is not UTF-8",
                errors=[FieldError("/path", UTF8_FLAW)],
            ) from None
    flaws = header_flaws(headers)
    if flaws:
        raise BadRequest("a request header holds a control character", errors=flaws)
