"""The protocol a face meets, for the app factory that includes the faces it is given (the
composition root finds them); a face reaches it through its door,
:mod:`journalloft.platform.face`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from fastapi import APIRouter

from journalloft.platform.auth.scopes import ScopeVocabulary
from journalloft.platform.http.problems import FaceRenderer
from journalloft.platform.plugins.service_protocol import SharingService

FACE_ENTRY_POINT_GROUP: Final = "journalloft.faces"


class Face(Protocol):
    """What a face gives the app."""

    name: str
    """The face's name: the key of a service's parts for it (``parts_of(service, name)``)."""
    prefix: str
    """The paths it serves (``/fhir``); its renderer answers the errors under them."""
    renderer: FaceRenderer | None
    """Renders a problem under :attr:`prefix` in the face's own form; None: problem+json."""

    def router(self, services: Mapping[str, SharingService]) -> APIRouter:
        """The face's routes, for the registered services (none if it maps none of them)."""
        ...

    def scope_vocabulary(self, services: Mapping[str, SharingService]) -> ScopeVocabulary | None:
        """The scopes the face's clients may ask for besides the native ones, each standing for
        native scopes of the registered services (SMART's system scopes); None: none."""
        ...


@dataclass(frozen=True)
class RoutedFace:
    """A face made of a router factory: meets :class:`Face`."""

    name: str
    prefix: str
    build: Callable[[Mapping[str, SharingService]], APIRouter]
    renderer: FaceRenderer | None = None
    vocabulary: Callable[[Mapping[str, SharingService]], ScopeVocabulary] | None = None

    def router(self, services: Mapping[str, SharingService]) -> APIRouter:
        return self.build(services)

    def scope_vocabulary(self, services: Mapping[str, SharingService]) -> ScopeVocabulary | None:
        return None if self.vocabulary is None else self.vocabulary(services)
