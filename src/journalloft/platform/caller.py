"""Who asks, through what, and when: the one input every operation and every audit event has."""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass
from datetime import datetime

from journalloft.platform.auth.tokens import Principal

COMMAND_LINE_ISSUER = "journalloft command line"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal and the request's context: its correlation id, the calling
    system (``X-EPJ-System``) and the platform's clock at the start of the request. An audit event
    records all of it besides the data touched; ``channel`` is ``stream`` for a event stream's reads
    (None for a request's own)."""

    principal: Principal
    correlation_id: str
    epj_system: str | None
    now: datetime
    channel: str | None = None

    @property
    def client_id(self) -> str:
        return self.principal.client_id

    @classmethod
    def command_line(cls, *, now: datetime) -> Caller:
        """The operating-system user running a ``journalloft`` command: the platform operator on
        this machine, named ``cli:<user>`` in the audit log."""
        return cls(
            principal=Principal(
                client_id=f"cli:{getpass.getuser()}"[:128],
                scopes=frozenset(),
                issuer=COMMAND_LINE_ISSUER,
            ),
            correlation_id=str(uuid.uuid4()),
            epj_system="journalloft-cli",
            now=now,
        )
