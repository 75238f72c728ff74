"""Logical ids that reveal no person, and page tokens that carry no person id in a URL.

A provider names each resource it makes by a stable internal key (:func:`~journalloft.faces.fhir.
common.resource_id`: a hash of the municipality, the person and the record id, reversible by
brute force over the person-number space, so it never leaves the face). The face publishes each
resource under a logical id made with the deployment's keys, statelessly:

``id = b64(mac ‖ AES-SIV(person ‖ kommunenummer ‖ service tag; associated data: mac))``

``mac`` is a keyed BLAKE2b (RFC 7693's keyed mode, a MAC like HMAC and about three times as fast
here) of the internal key, 12 bytes (it picks the record among the person's),
and the person and municipality are encrypted with AES-SIV (RFC 5297, ``cryptography``'s
``AESSIV``), authenticated with ``mac`` as associated data: the same record always has the same
id (a deterministic cipher), two records of one person have unrelated ids (the ``mac`` differs),
an altered id does not decrypt, and without the key nothing in it can be tested against a
guessed person. The service tag (one byte of a hash of the name of the service whose provider
made the resource, :func:`service_tag`) says which of the services serving the type holds it
(Observation: NEWS2 or Kartlegginger), so that a read looks up that service only; it is stable
while the service keeps its name, and two services of one type whose tags collide are both
asked. 12 + 16 + 8 bytes: 48 characters of ``[A-Za-z0-9-.]`` (FHIR allows 64).

A read decrypts the person, municipality and service tag and runs the ordinary lookup for that
person in that service; no table maps ids, and ingest does no extra work.

Page tokens (``next``/``previous``) are the parsed search, its offset, the base it was asked at
and an expiry, compressed and sealed with AES-SIV under another key, bound to the client by
associated data: a token altered, expired, or used by another client does not open.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from journalloft.platform.face import Settings, derived_key

_MAC_BYTES: Final = 12
_PLAIN_BYTES: Final = 8  # 5 bytes of an 11-digit person id, 2 of a 4-digit kommunenummer, 1 tag
_ID_BYTES: Final = _MAC_BYTES + 16 + _PLAIN_BYTES
_PAGE_AD: Final = b"journalloft fhir page v1"
MAX_PAGE_TOKEN: Final = 60_000
"""The longest page token made or taken (characters; a URL's query string is at most 64 KiB): a
longer one is refused before it is opened, and a search whose token would be longer gets no
page links (a warning says so)."""


def _encode(raw: bytes) -> str:
    """base64url without padding, ``_`` as ``.``: FHIR's id alphabet ``[A-Za-z0-9-.]``."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode().replace("_", ".")


def _decode(text: str) -> bytes | None:
    if not text or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text.replace(".", "_") + "=" * (-len(text) % 4))
    except ValueError:
        return None


def service_tag(service: str) -> int:
    """The byte a logical id carries for the service whose provider made the resource."""
    return hashlib.blake2b(service.encode(), digest_size=1).digest()[0]


class Owner(NamedTuple):
    """What a logical id names: the person, the municipality and the service's tag."""

    kommunenummer: str
    person: str
    service_tag: int


class Keys:
    """The FHIR face's keys, derived from the deployment's secret (``JOURNALLOFT_FHIR_KEY_FILE``,
    else the audit seal key): one for ids, one for their MACs, one for page tokens."""

    def __init__(self, settings: Settings) -> None:
        self._ids = AESSIV(derived_key(settings, "journalloft fhir ids v1", 64))
        self._mac = derived_key(settings, "journalloft fhir id mac v1", 32)
        self._pages = AESSIV(derived_key(settings, "journalloft fhir pages v1", 64))

    def public_id(self, kommunenummer: str, person: str, internal: str, *, service: str) -> str:
        """The logical id of the resource the provider of ``service`` keyed ``internal``."""
        mac = hashlib.blake2b(internal.encode(), key=self._mac, digest_size=_MAC_BYTES).digest()
        plain = (
            int(person).to_bytes(5, "big")
            + int(kommunenummer).to_bytes(2, "big")
            + bytes([service_tag(service)])
        )
        return _encode(mac + self._ids.encrypt(plain, [mac]))

    def opened(self, logical_id: str) -> Owner | None:
        """What a logical id this deployment made names; None for any other."""
        raw = _decode(logical_id)
        if raw is None or len(raw) != _ID_BYTES:
            return None
        mac, sealed = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        try:
            plain = self._ids.decrypt(sealed, [mac])
        except InvalidTag:
            return None
        person = int.from_bytes(plain[:5], "big")
        kommunenummer = int.from_bytes(plain[5:7], "big")
        return Owner(f"{kommunenummer:04d}", f"{person:011d}", plain[7])

    def owner_of(self, logical_id: str) -> tuple[str, str] | None:
        """(kommunenummer, person) of a logical id this deployment made; None for any other."""
        owner = self.opened(logical_id)
        return None if owner is None else (owner.kommunenummer, owner.person)

    def page_token(self, page: Mapping[str, Any], client: str) -> str | None:
        """``page`` sealed for ``client``; None if it would be longer than
        :data:`MAX_PAGE_TOKEN`."""
        packed = zlib.compress(orjson.dumps(page), 9)
        token = _encode(self._pages.encrypt(packed, [_PAGE_AD, client.encode()]))
        return token if len(token) <= MAX_PAGE_TOKEN else None

    def open_page(self, token: str, client: str) -> dict[str, Any] | None:
        """The page a token sealed for ``client``; None if it is not one (altered, made by another
        deployment or key, or for another client)."""
        if len(token) > MAX_PAGE_TOKEN:
            return None
        raw = _decode(token)
        if raw is None:
            return None
        try:
            packed = self._pages.decrypt(raw, [_PAGE_AD, client.encode()])
        except InvalidTag:
            return None
        inflater = zlib.decompressobj()
        plain = inflater.decompress(packed, 1 << 20)
        if inflater.unconsumed_tail:
            return None
        page = orjson.loads(plain)
        return page if isinstance(page, dict) else None


_CACHE: dict[tuple[Any, ...], Keys] = {}


def keys_of(settings: Settings) -> Keys:
    """The keys of a deployment's settings, derived once."""
    marker = (
        settings.fhir_key_file,
        settings.audit_seal_key_file,
        settings.data_path,
        settings.environment,
    )
    keys = _CACHE.get(marker)
    if keys is None:
        if len(_CACHE) > 32:
            _CACHE.clear()
        keys = _CACHE[marker] = Keys(settings)
    return keys


def _repoint(element: Any, renamed: Mapping[str, str]) -> None:
    if isinstance(element, dict):
        reference = element.get("reference")
        if isinstance(reference, str) and reference in renamed:
            element["reference"] = renamed[reference]
        for value in element.values():
            if isinstance(value, dict | list):
                _repoint(value, renamed)
    elif isinstance(element, list):
        for value in element:
            _repoint(value, renamed)


class Publisher:
    """Gives resources their logical ids, each once (a vital sign may be both a searchset's
    match and its NEWS2 Observation's member), and points the references between them (a NEWS2
    Observation's ``hasMember``) at those ids."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._internal: dict[int, str] = {}
        self._held: list[dict[str, Any]] = []  # keeps each id(resource) unique while published

    def one(
        self, resource: dict[str, Any], *, kommunenummer: str, person: str, service: str
    ) -> None:
        if id(resource) in self._internal:
            return
        self._internal[id(resource)] = resource["id"]
        self._held.append(resource)
        resource["id"] = self.keys.public_id(kommunenummer, person, resource["id"], service=service)

    def group(
        self,
        main: dict[str, Any],
        included: list[dict[str, Any]],
        *,
        kommunenummer: str,
        person: str,
        service: str,
    ) -> None:
        """``main`` and its ``included`` members, made by the provider of ``service``."""
        self.one(main, kommunenummer=kommunenummer, person=person, service=service)
        renamed: dict[str, str] = {}
        for member in included:
            self.one(member, kommunenummer=kommunenummer, person=person, service=service)
            kind = member["resourceType"]
            renamed[f"{kind}/{self._internal[id(member)]}"] = f"{kind}/{member['id']}"
        if renamed:
            _repoint(main, renamed)
