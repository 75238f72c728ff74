"""Sharing service "Oversikt over kommunale tjenester" (``kommunale-tjenester``)."""

from journalloft.plugin import SharingService
from journalloft.services.kommunale_tjenester.service import KommunaleTjenester

spec = KommunaleTjenester()

# Checked by mypy: the spec is a sharing service (its records do not expire: no purge).
_sharing_service: SharingService = spec

__all__ = ["KommunaleTjenester", "spec"]
