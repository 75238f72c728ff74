"""Sharing service "Oversikt over kommunale tjenester" (``kommunale-tjenester``)."""

from journalloft.services.kommunale_tjenester.service import spec

__all__ = ["spec"]
