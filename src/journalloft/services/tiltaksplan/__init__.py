"""Sharing service "Tiltaksplan" (``tiltaksplan``): the current plan of measures around a person."""

from journalloft.plugin import SharingService
from journalloft.services.tiltaksplan.service import Tiltaksplan

spec = Tiltaksplan()

_sharing_service: SharingService = spec

__all__ = ["Tiltaksplan", "spec"]
