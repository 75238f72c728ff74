"""NEWS2 målinger: vital signs from municipal journal systems, scored for the legevakt board."""

from journalloft.plugin import Purgeable, SharingService
from journalloft.services.news2.service import News2Service

spec = News2Service()

# Checked by mypy: the spec is a sharing service whose measurements expire.
_sharing_service: SharingService = spec
_purgeable: Purgeable = spec

__all__ = ["News2Service", "spec"]
