"""Diagnoser: the diagnoses and health problems a municipal service has recorded for a person."""

from journalloft.plugin import SharingService
from journalloft.services.diagnoser.service import Diagnoser

spec = Diagnoser()

# Checked by mypy: the spec is a sharing service.
_sharing_service: SharingService = spec

__all__ = ["Diagnoser", "spec"]
