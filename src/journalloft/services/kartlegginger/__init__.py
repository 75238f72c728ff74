"""Kartlegginger: standardized assessments of a person (function, cognition, nutrition, fall
and pressure-ulcer risk, pain in dementia), shared with the legevakt."""

from journalloft.plugin import SharingService
from journalloft.services.kartlegginger.service import Kartlegginger

spec = Kartlegginger()

# Checked by mypy: the spec is a sharing service.
_sharing_service: SharingService = spec

__all__ = ["Kartlegginger", "spec"]
