"""The JSON Schemas in ``schemas/``, loaded once into a local registry and compiled once.

Every violation becomes a :class:`FieldError` with a JSON Pointer into the instance, so that a
client sees schema errors and the platform's own rule errors in one shape.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry
from referencing._core import Resolver
from referencing.jsonschema import DRAFT202012

from journalloft.platform.core.errors import FieldError

SCHEMA_BASE = "https://schemas.journalloft.no/"


class SchemaError(Exception):
    """A schema file is broken: the platform refuses to start."""


def _pointer(parts: Iterator[Any] | Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _field_errors(
    error: ValidationError, declared: Callable[[Any], set[str]] = lambda _: set()
) -> list[FieldError]:
    """Turn one jsonschema error into pointers that name the offending member where possible.

    ``declared`` names the properties a (sub)schema declares, through ``allOf`` and ``$ref`` too.
    """
    path = _pointer(error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            FieldError(f"{path}/{name}", "is required")
            for name in error.validator_value
            if name not in instance
        ] or [FieldError(path, error.message)]
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        known = declared(error.schema)
        extra = [k for k in error.instance if k not in known]
        if extra:
            return [FieldError(f"{path}/{_pointer([k])[1:]}", "is not allowed") for k in extra]
    if error.context:
        best = min(error.context, key=lambda e: len(list(e.absolute_path)) * -1)
        return _field_errors(best, declared)
    return [FieldError(path, _short_message(error))]


def _short_message(error: ValidationError) -> str:
    if error.validator == "enum":
        allowed: list[Any] = list(error.validator_value)  # type: ignore[arg-type]
        return "must be one of " + ", ".join(json.dumps(v) for v in allowed)
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }
        return f"must be {words[str(error.validator)]} {error.validator_value}"
    if error.validator in ("minLength", "maxLength"):
        word = "at least" if error.validator == "minLength" else "at most"
        return f"must be {word} {error.validator_value} characters long"
    if error.validator in ("minItems", "maxItems"):
        word = "at least" if error.validator == "minItems" else "at most"
        return f"must have {word} {error.validator_value} items"
    if error.validator == "pattern":
        return "does not have the expected form"
    return error.message


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json_native(instance: Any) -> bool:
    """Whether ``instance`` is made only of what JSON parsing yields (dict with str keys, list,
    str, int, float, bool, None): where the fast validator and the reference one see the same
    value (a tuple, say, is an array to one and not to the other)."""
    kind = type(instance)
    if kind is dict:
        for key, value in instance.items():
            if type(key) is not str:
                return False
            if type(value) not in _JSON_SCALARS and not _json_native(value):
                return False
        return True
    if kind is list:
        for value in instance:
            if type(value) not in _JSON_SCALARS and not _json_native(value):
                return False
        return True
    return kind in _JSON_SCALARS


@dataclass(slots=True)
class FormatPlan:
    """Where in an instance a schema declares ``format``: at this value (``formats``), under a
    named key, a key matching a pattern, any other key, or any item. Built once per schema by
    :meth:`Schemas.format_plan`, with ``$ref`` and ``allOf`` (and ``anyOf``, ``oneOf``,
    ``then``, ``else``: a format in any branch counts) merged; parts without a format are left
    out."""

    formats: set[str] = field(default_factory=set)
    properties: dict[str, FormatPlan] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], FormatPlan]] = field(default_factory=list)
    other: FormatPlan | None = None
    items: FormatPlan | None = None

    def merge(self, plan: FormatPlan | None) -> None:
        if plan is None:
            return
        self.formats |= plan.formats
        for name, below in plan.properties.items():
            self.properties.setdefault(name, FormatPlan()).merge(below)
        self.patterns += plan.patterns
        self.other = _merged(self.other, plan.other)
        self.items = _merged(self.items, plan.items)

    def empty(self) -> bool:
        return not (self.formats or self.properties or self.patterns or self.other or self.items)

    def below(self, key: str) -> list[FormatPlan]:
        """The plans of the member ``key`` of an object."""
        found = [plan for pattern, plan in self.patterns if pattern.search(key)]
        named = self.properties.get(key)
        if named is not None:
            found.append(named)
        if not found and self.other is not None:
            found.append(self.other)
        return found


def _merged(plan: FormatPlan | None, other: FormatPlan | None) -> FormatPlan | None:
    if other is None:
        return plan
    merged = FormatPlan()
    merged.merge(plan)
    merged.merge(other)
    return merged


_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMAS = ("then", "else")
_MEMBER_SCHEMAS = ("additionalProperties", "unevaluatedProperties")
_ITEM_SCHEMAS = ("items", "unevaluatedItems", "contains")


def _plan_of(schema: Any, resolver: Resolver[Any], active: frozenset[int]) -> FormatPlan | None:
    """The :class:`FormatPlan` of one (sub)schema; ``active`` are the ``$ref`` targets being
    expanded (a recursive schema stops where it refers to itself)."""
    if not isinstance(schema, dict):
        return None
    plan = FormatPlan()
    if isinstance(schema.get("format"), str):
        plan.formats.add(schema["format"])
    for name, below in (schema.get("properties") or {}).items():
        found = _plan_of(below, resolver, active)
        if found is not None:
            plan.properties.setdefault(name, FormatPlan()).merge(found)
    for pattern, below in (schema.get("patternProperties") or {}).items():
        found = _plan_of(below, resolver, active)
        if found is not None:
            plan.patterns.append((re.compile(pattern), found))
    for keyword in _MEMBER_SCHEMAS:
        plan.other = _merged(plan.other, _plan_of(schema.get(keyword), resolver, active))
    items = [schema.get(k) for k in _ITEM_SCHEMAS] + list(schema.get("prefixItems") or [])
    for below in items:
        plan.items = _merged(plan.items, _plan_of(below, resolver, active))
    for keyword in _SUBSCHEMA_LISTS:
        for below in schema.get(keyword) or []:
            plan.merge(_plan_of(below, resolver, active))
    for keyword in _SUBSCHEMAS:
        plan.merge(_plan_of(schema.get(keyword), resolver, active))
    reference = schema.get("$ref")
    if isinstance(reference, str):
        resolved = resolver.lookup(reference)
        target = id(resolved.contents)
        if target not in active:
            plan.merge(_plan_of(resolved.contents, resolved.resolver, active | {target}))
    return None if plan.empty() else plan


_END_OF_TEXT = "(?![\\s\\S])"
"""Nothing follows: the end of the text in Python's ``re`` and in the fast validator's regex."""


def _anchored(node: Any) -> Any:
    """``node`` with every ``pattern`` that ends in an unescaped ``$`` ending at the very end
    of the text instead. In Python's ``re`` (the reference validator) ``$`` also matches before a
    final newline, so ``^[0-9]{1,9}$`` took ``"1234567\n"`` as an HPR number; JSON Schema means
    ECMA-262, where it does not."""
    if isinstance(node, dict):
        out = {key: _anchored(value) for key, value in node.items()}
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
            out["pattern"] = pattern[:-1] + _END_OF_TEXT
        return out
    if isinstance(node, list):
        return [_anchored(item) for item in node]
    return node


@functools.lru_cache(maxsize=256)
def _checked_text(text: str) -> str:
    Draft202012Validator.check_schema(json.loads(text))
    return text


def _checked(text: str) -> dict[str, Any]:
    """The schema in ``text``, checked against the meta-schema. A process checks a given text
    once (checking is most of a start-up's schema work, and a test suite starts many apps);
    every call returns a fresh document, so that no caller shares another's."""
    document: dict[str, Any] = json.loads(_checked_text(text))
    return document


class Schemas:
    """All schemas by ``$id``, with one compiled validator each."""

    def __init__(
        self,
        documents: Mapping[str, dict[str, Any]],
        *,
        _enforced: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.documents = dict(documents)
        """The schemas as written (and as the OpenAPI document shows them)."""
        known = _enforced or {}
        self._enforced = {
            uri: known[uri] if uri in known else _anchored(doc)
            for uri, doc in self.documents.items()
        }
        """The schemas as validated: every ``pattern`` that ends in ``$`` anchored at the very
        end, see :func:`_anchored`."""
        self.registry: Registry[Any] = Registry().with_resources(
            (uri, DRAFT202012.create_resource(doc)) for uri, doc in self._enforced.items()
        )
        self._validators: dict[str, Draft202012Validator] = {}
        self._fast: dict[str, Any] = {}
        self._fast_registry: Any = None
        self._plans: dict[str, FormatPlan | None] = {}

    @classmethod
    def load(cls, *directories: Path) -> Schemas:
        """Every ``*.json`` under the folders; each ``$id`` once across all of them."""
        documents: dict[str, dict[str, Any]] = {}
        paths = [path for directory in directories for path in sorted(directory.rglob("*.json"))]
        for path in paths:
            try:
                doc = _checked(path.read_text(encoding="utf-8"))
            except (ValueError, Exception) as exc:
                raise SchemaError(f"{path}: {exc}") from exc
            schema_id = doc.get("$id")
            if not isinstance(schema_id, str) or not schema_id.startswith(SCHEMA_BASE):
                raise SchemaError(f"{path}: $id must start with {SCHEMA_BASE}")
            if schema_id in documents:
                raise SchemaError(f"{path}: duplicate $id {schema_id}")
            documents[schema_id] = doc
        return cls(documents)

    def with_schema(self, *documents: dict[str, Any]) -> Schemas:
        """A copy that also knows ``documents`` (e.g. envelopes generated in code). The
        schemas it already knew are not anchored again."""
        added = {document["$id"]: document for document in documents}
        return Schemas({**self.documents, **added}, _enforced=self._enforced)

    def validator(self, schema_id: str) -> Draft202012Validator:
        validator = self._validators.get(schema_id)
        if validator is None:
            if schema_id not in self.documents:
                raise SchemaError(f"unknown schema {schema_id}")
            validator = Draft202012Validator(
                self._enforced[schema_id],
                registry=self.registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            self._validators[schema_id] = validator
        return validator

    def declared_properties(self, schema: Any, *, base: str = SCHEMA_BASE) -> set[str]:
        """The property names a schema declares itself or through ``allOf`` and ``$ref``."""
        if not isinstance(schema, dict):
            return set()
        names = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            names |= self.declared_properties(part, base=base)
        reference = schema.get("$ref")
        if isinstance(reference, str):
            target = urljoin(base, reference)
            resolved = self.registry.resolver(base_uri=base).lookup(reference)
            names |= self.declared_properties(resolved.contents, base=target.split("#")[0])
        return names

    def fast_validator(self, schema_id: str) -> Any:
        """A compiled Rust validator (jsonschema-rs) of ``schema_id``, or None where it fails.

        Only ever used to say "valid" quickly: anything it refuses is checked again by
        :meth:`validator`, whose verdict and errors are the platform's. It is stricter, never
        laxer, on what the schemas use (``$`` does not match before a final newline, formats
        are checked), so a "valid" from it is one the reference validator gives too.
        """
        if schema_id in self._fast:
            return self._fast[schema_id]
        fast = None
        try:
            if self._fast_registry is None:
                self._fast_registry = jsonschema_rs.Registry(list(self._enforced.items()))
            fast = jsonschema_rs.validator_for(
                self._enforced[schema_id],
                registry=self._fast_registry,
                validate_formats=True,
                base_uri=schema_id,
            )
        except Exception:  # any schema it cannot compile is left to the reference validator
            fast = None
        self._fast[schema_id] = fast
        return fast

    def format_plan(self, schema_id: str) -> FormatPlan | None:
        """Where ``schema_id`` declares a ``format`` (None: nowhere)."""
        if schema_id not in self._plans:
            if schema_id not in self.documents:
                raise SchemaError(f"unknown schema {schema_id}")
            document = self._enforced[schema_id]
            resolver = self.registry.resolver(base_uri=schema_id)
            self._plans[schema_id] = _plan_of(document, resolver, frozenset({id(document)}))
        return self._plans[schema_id]

    def formatted(self, instance: Any, schema_id: str) -> Iterator[tuple[str, str, Any]]:
        """``(pointer, format, value)`` for every value of ``instance`` where ``schema_id``
        declares a format, e.g. ``("/updated", "date-time", "2026-11-22T03:00:00+01:00")``.

        Iterative: ``instance`` may be as deep as a body may be."""
        plan = self.format_plan(schema_id)
        if plan is None:
            return
        stack: list[tuple[str, Any, FormatPlan]] = [("", instance, plan)]
        while stack:
            pointer, value, plan = stack.pop()
            for kind in plan.formats:
                yield pointer, kind, value
            if isinstance(value, dict):
                if not plan.patterns and plan.other is None:
                    members = [(k, [p]) for k, p in plan.properties.items() if k in value]
                else:
                    members = [(k, plan.below(k)) for k in value]
                for key, plans in members:
                    at = pointer + _pointer([key])
                    stack += [(at, value[key], below) for below in plans]
            elif isinstance(value, list) and plan.items is not None:
                stack += [(f"{pointer}/{i}", item, plan.items) for i, item in enumerate(value)]

    def errors(self, instance: Any, schema_id: str, *, prefix: str = "") -> list[FieldError]:
        """Every violation of ``schema_id`` by ``instance``, ordered by pointer."""
        fast = self.fast_validator(schema_id) if schema_id in self.documents else None
        if fast is not None and _json_native(instance) and fast.is_valid(instance):
            return []

        def declared(schema: Any) -> set[str]:
            return self.declared_properties(schema, base=schema_id)

        found = [
            field.at(prefix)
            for error in self.validator(schema_id).iter_errors(instance)
            for field in _field_errors(error, declared)
        ]
        unique = {(f.pointer, f.message): f for f in found}
        return sorted(unique.values(), key=lambda f: f.pointer)
