"""Scopes of another vocabulary than the platform's own, each standing for native scopes.

The platform's scopes are its own (``news2:read``, ``news2:write``, ...). A face may bring a
vocabulary its clients already speak: the FHIR face brings SMART on FHIR's system scopes
(``system/Observation.rs`` stands for the read scope of every service that serves Observation).
A token may carry such a scope, from HelseID or from the built-in issuer; it is translated to the
native scopes it stands for once for each distinct ``scope`` claim (:meth:`Scopes.granted`), and
everything after that (the access checks, the grants, the policy) sees native scopes only. A
scope of a vocabulary never gives more than the native scopes it stands for, and a native scope
is worth nothing without the municipality's grant, so neither is a SMART scope.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True, slots=True)
class ScopeVocabulary:
    """The scopes one face accepts besides the native ones."""

    name: str
    """What the vocabulary is, for error messages (``SMART on FHIR``)."""
    aliases: Mapping[str, frozenset[str]]
    """Each scope of the vocabulary and the native scopes it stands for."""
    refusal: Callable[[str], str | None] = field(default=lambda scope: None)
    """Why a scope that looks like one of the vocabulary's (and is not one of its aliases) is
    refused; None: not the vocabulary's syntax at all."""
    supported: str = ""
    """One sentence naming what the vocabulary supports, added to a refusal."""


ClaimKey = str | tuple[str, ...]

_EMPTY: Final[frozenset[str]] = frozenset()


class Scopes:
    """The vocabularies a running platform accepts, merged: an alias two vocabularies share
    stands for what both say."""

    CACHE_SIZE = 1024
    """Distinct ``scope`` claims remembered: a platform sees a handful (each client asks for the
    same scopes every time), and only from tokens that passed verification."""

    def __init__(self, vocabularies: Sequence[ScopeVocabulary] = ()) -> None:
        self.vocabularies = tuple(vocabularies)
        aliases: dict[str, frozenset[str]] = {}
        for vocabulary in self.vocabularies:
            for alias, natives in vocabulary.aliases.items():
                aliases[alias] = aliases.get(alias, _EMPTY) | natives
        self.aliases: Mapping[str, frozenset[str]] = aliases
        self._granted: dict[ClaimKey, frozenset[str]] = {}
        self._lock = threading.Lock()

    def granted(self, claim: object) -> frozenset[str]:
        """The scopes a token's ``scope`` claim (a space-separated string, or a list as HelseID
        writes it) gives: each scope as named, and the native scopes each alias stands for.

        Translated once for each distinct claim and remembered: a request whose token's claim was
        seen before costs one dictionary lookup (less than splitting the string again)."""
        key: ClaimKey
        if isinstance(claim, str):
            key = claim
        elif isinstance(claim, list):
            key = tuple(n for n in claim if isinstance(n, str))  # anything else is no scope
        else:
            return _EMPTY
        known = self._granted.get(key)
        if known is not None:
            return known
        names = key.split() if isinstance(key, str) else key
        scopes = set(names)
        for name in names:
            scopes |= self.aliases.get(name, _EMPTY)
        result = frozenset(scopes)
        with self._lock:
            if len(self._granted) >= self.CACHE_SIZE:
                self._granted.clear()
            self._granted[key] = result
        return result

    def stands_for(self, scope: str) -> frozenset[str] | None:
        """The native scopes an alias stands for; None if ``scope`` is no alias."""
        return self.aliases.get(scope)

    def explain(self, scope: str) -> tuple[str, str] | None:
        """Why ``scope`` (neither native nor an alias) is refused, and what its vocabulary
        supports, in the words of the vocabulary whose syntax it has; None if it has none's."""
        for vocabulary in self.vocabularies:
            reason = vocabulary.refusal(scope)
            if reason is not None:
                return reason, vocabulary.supported
        return None
