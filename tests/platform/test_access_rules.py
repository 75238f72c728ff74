"""Every check an operation makes before it touches data (``operations/access.py``), each
refusal with its status, title and words, and each edge on both sides: the scope a token must
carry, the grant the municipality gave, DPoP and attestation where its policy demands them, the
rate limit (at the limit and one past it; the minute's window and its ``Retry-After`` at both
ends of the minute), and which municipalities a lookup asks.

The platform's clock and its rate counter are the test's: nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from journalloft.platform.auth.attestation import attestation_from_details
from journalloft.platform.auth.tokens import AUDIT_READ_SCOPE, RESTRICTIONS_SCOPE, Principal
from journalloft.platform.caller import Caller
from journalloft.platform.core.errors import Forbidden, NotFound, Problem, RateLimited, Unauthorized
from journalloft.platform.core.tenancy import Tenant
from journalloft.platform.operations import access as rules
from journalloft.platform.storage.kv import MemoryKeyValue
from support import tenant_document
from support.platform import Backend, TestRuntime, start_runtime
from support.security import attestation_details

RATE_LIMITED_BODO = ("journalloft_rate_limit_refusals_total", {"kommunenummer": "1804"})
MINUTE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
"""The first instant of a minute (a multiple of 60 s since the epoch)."""
assert MINUTE.timestamp() % 60 == 0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRuntime]:
    """Bodø: every service, a lenient policy, at most 3 requests a minute. Bærum: news2 only,
    DPoP and attestation demanded, at most 2 requests a minute."""
    for platform in start_runtime(Backend("sqlite", None, None), tmp_path_factory.mktemp("a")):
        platform.onboard(tenant_document("1804", policy={"rate_limit_per_minute": 3}))
        platform.onboard(
            tenant_document(
                "3201",
                services={"news2": {}},
                policy={
                    "require_dpop": True,
                    "require_attestation": True,
                    "rate_limit_per_minute": 2,
                },
            )
        )
        yield platform


class Minute:
    """The platform's clock and a rate counter on the same time, moved by the test."""

    def __init__(self, platform: TestRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = MINUTE
        runtime = platform.runtime
        monkeypatch.setattr(runtime, "clock", lambda: self.now)
        monkeypatch.setattr(runtime, "kv", MemoryKeyValue(lambda: self.now.timestamp()))

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def minute(platform: TestRuntime, monkeypatch: pytest.MonkeyPatch) -> Minute:
    return Minute(platform, monkeypatch)


def tenant(platform: TestRuntime, kommunenummer: str) -> Tenant:
    found = platform.runtime.tenants.get(kommunenummer)
    assert found is not None
    return found


def caller(
    client_id: str, *scopes: str, dpop: bool = False, attested: bool = False, now: datetime = MINUTE
) -> Caller:
    attestation = (
        attestation_from_details(
            [attestation_details()], issued_at=now.timestamp(), now=now.timestamp(), source="token"
        )
        if attested
        else None
    )
    principal = Principal(
        client_id=client_id,
        scopes=frozenset(scopes),
        issuer="https://issuer.test",
        dpop_jkt="a-thumbprint" if dpop else None,
        attestation=attestation,
    )
    return Caller(principal=principal, correlation_id="c-1", epj_system=None, now=now)


def refused(problem: Problem, kind: type[Problem], status: int, title: str, words: str) -> None:
    assert type(problem) is kind
    assert (problem.status, problem.instance_title, problem.detail) == (status, title, words)


# --- scope, service, grant --------------------------------------------------------------------


def test_a_source_needs_the_write_scope_the_service_and_the_grant(
    platform: TestRuntime, minute: Minute
) -> None:
    news2 = platform.runtime.services["news2"]
    diagnoser = platform.runtime.services["diagnoser"]
    bodo, baerum = tenant(platform, "1804"), tenant(platform, "3201")
    access = rules.source_access(platform.runtime, caller("bodo-epj", "news2:write"), bodo, news2)
    assert (access.caller.client_id, access.tenant, access.service) == ("bodo-epj", bodo, news2)

    with pytest.raises(Forbidden) as missing:
        rules.source_access(platform.runtime, caller("bodo-epj", "news2:read"), bodo, news2)
    refused(
        missing.value,
        Forbidden,
        403,
        "Missing scope",
        "the token does not carry the scope news2:write",
    )
    with pytest.raises(NotFound) as not_adopted:
        rules.source_access(
            platform.runtime, caller("baerum-epj", "diagnoser:write", dpop=True), baerum, diagnoser
        )
    refused(
        not_adopted.value,
        NotFound,
        404,
        "Service not enabled for this municipality",
        "Bærum kommune has not adopted the service diagnoser",
    )
    with pytest.raises(Forbidden) as foreign:
        rules.source_access(platform.runtime, caller("baerum-epj", "news2:write"), bodo, news2)
    refused(
        foreign.value,
        Forbidden,
        403,
        "No grant from this municipality",
        "Bodø kommune has not granted this client to write news2",
    )


def test_an_operator_needs_the_audit_scope_and_to_be_the_municipalitys_own(
    platform: TestRuntime, minute: Minute
) -> None:
    bodo = tenant(platform, "1804")
    access = rules.operator_access(platform.runtime, caller("bodo-drift", AUDIT_READ_SCOPE), bodo)
    assert (access.caller.client_id, access.tenant) == ("bodo-drift", bodo)
    with pytest.raises(Forbidden) as missing:
        rules.operator_access(platform.runtime, caller("bodo-drift", "news2:read"), bodo)
    refused(
        missing.value,
        Forbidden,
        403,
        "Missing scope",
        f"the token does not carry the scope {AUDIT_READ_SCOPE}",
    )
    with pytest.raises(Forbidden) as foreign:
        rules.operator_access(platform.runtime, caller("baerum-drift", AUDIT_READ_SCOPE), bodo)
    refused(
        foreign.value,
        Forbidden,
        403,
        "Not allowed",
        "only Bodø kommune's own operators may read its audit log",
    )


@pytest.mark.parametrize("client_id", ["bodo-epj", "bodo-drift"])
def test_the_municipalitys_own_sources_and_operators_may_restrict(
    platform: TestRuntime, minute: Minute, client_id: str
) -> None:
    bodo = tenant(platform, "1804")
    access = rules.restriction_access(platform.runtime, caller(client_id, RESTRICTIONS_SCOPE), bodo)
    assert (access.caller.client_id, access.tenant) == (client_id, bodo)


@pytest.mark.parametrize(
    ("client_id", "scope", "title", "words"),
    [
        (
            "bodo-epj",
            "news2:write",
            "Missing scope",
            f"the token does not carry the scope {RESTRICTIONS_SCOPE}",
        ),
        (
            "bodo-legevakt",
            RESTRICTIONS_SCOPE,
            "No grant from this municipality",
            "only Bodø kommune's own sources and operators may mark restrictions",
        ),
        (
            "baerum-drift",
            RESTRICTIONS_SCOPE,
            "No grant from this municipality",
            "only Bodø kommune's own sources and operators may mark restrictions",
        ),
    ],
)
def test_no_one_else_may_restrict(
    platform: TestRuntime, minute: Minute, client_id: str, scope: str, title: str, words: str
) -> None:
    with pytest.raises(Forbidden) as refusal:
        rules.restriction_access(
            platform.runtime, caller(client_id, scope), tenant(platform, "1804")
        )
    refused(refusal.value, Forbidden, 403, title, words)


def test_a_reader_needs_the_read_scope(platform: TestRuntime) -> None:
    news2 = platform.runtime.services["news2"]
    access = rules.reader_access(caller("bodo-legevakt", "news2:read"), news2)
    assert (access.caller.client_id, access.service) == ("bodo-legevakt", news2)
    with pytest.raises(Forbidden) as missing:
        rules.reader_access(caller("bodo-legevakt", "news2:write"), news2)
    refused(
        missing.value,
        Forbidden,
        403,
        "Missing scope",
        "the token does not carry the scope news2:read",
    )


# --- which municipalities a lookup asks ---------------------------------------------------------


def test_a_lookup_asks_every_granting_municipality_or_those_it_names_in_order(
    platform: TestRuntime,
) -> None:
    runtime = platform.runtime
    news2, diagnoser = runtime.services["news2"], runtime.services["diagnoser"]
    bodo, baerum = tenant(platform, "1804"), tenant(platform, "3201")
    reader = rules.reader_access(caller("bodo-legevakt", "news2:read"), news2)
    assert rules.readable_tenants(runtime, reader, None) == [bodo]
    assert rules.readable_tenants(runtime, reader, ["1804"]) == [bodo]
    baerum_reader = rules.reader_access(caller("baerum-legevakt", "news2:read"), news2)
    assert rules.readable_tenants(runtime, baerum_reader, ["3201"]) == [baerum]

    cases: list[tuple[rules.ReaderAccess, list[str] | None, type[Problem], int, str, str]] = [
        (
            rules.reader_access(caller("nobody", "news2:read"), news2),
            None,
            Forbidden,
            403,
            "No grant from any municipality",
            "no municipality has granted this client to read news2",
        ),
        (
            reader,
            ["1804", "0301"],
            NotFound,
            404,
            "Unknown tenant",
            "no municipality 0301 on this platform",
        ),
        (
            rules.reader_access(caller("baerum-legevakt", "diagnoser:read"), diagnoser),
            ["3201"],
            NotFound,
            404,
            "Service not enabled for this municipality",
            "Bærum kommune has not adopted the service diagnoser",
        ),
        (
            reader,
            ["1804", "3201"],
            Forbidden,
            403,
            "No grant from this municipality",
            "Bærum kommune has not granted this client to read news2",
        ),
    ]
    for access, named, kind, status, title, words in cases:
        with pytest.raises(kind) as refusal:
            rules.readable_tenants(runtime, access, named)
        refused(refusal.value, kind, status, title, words)


# --- the municipality's policy ------------------------------------------------------------------


def test_dpop_is_demanded_only_where_the_policy_demands_it(
    platform: TestRuntime, minute: Minute
) -> None:
    baerum, bodo = tenant(platform, "3201"), tenant(platform, "1804")
    rules.admit(platform.runtime, baerum, caller("baerum-legevakt", dpop=True))
    rules.admit(platform.runtime, bodo, caller("bodo-legevakt"))
    with pytest.raises(Unauthorized) as bearer:
        rules.admit(platform.runtime, baerum, caller("baerum-legevakt"))
    refused(
        bearer.value,
        Unauthorized,
        401,
        "Not authenticated",
        "Bærum kommune requires DPoP-bound tokens",
    )
    assert bearer.value.headers["WWW-Authenticate"].startswith("DPoP ")
    with pytest.raises(Unauthorized):
        asyncio.run(rules.admit_async(platform.runtime, baerum, caller("baerum-legevakt")))


def test_an_attestation_is_demanded_only_where_the_policy_demands_it(
    platform: TestRuntime,
) -> None:
    baerum, bodo = tenant(platform, "3201"), tenant(platform, "1804")
    rules.require_attestation(baerum, caller("baerum-legevakt", attested=True))
    rules.require_attestation(bodo, caller("bodo-legevakt"))
    with pytest.raises(Forbidden) as missing:
        rules.require_attestation(baerum, caller("baerum-legevakt"))
    refused(
        missing.value,
        Forbidden,
        403,
        "Attestation required",
        "Bærum kommune requires a tillitsrammeverk attestation for patient lookups",
    )


@pytest.mark.parametrize("on_the_loop", [False, True], ids=["admit", "admit_async"])
def test_the_rate_limit_admits_the_limit_a_minute_and_refuses_one_more(
    platform: TestRuntime, minute: Minute, on_the_loop: bool
) -> None:
    """Bodø's limit is 3: the 3rd request of a minute is admitted, the 4th refused with the
    seconds left in the minute; another client and another municipality count apart; the next
    minute starts again."""
    runtime, bodo, baerum = platform.runtime, tenant(platform, "1804"), tenant(platform, "3201")

    def admit(where: Tenant, who: Caller) -> None:
        if on_the_loop:
            asyncio.run(rules.admit_async(runtime, where, who))
        else:
            rules.admit(runtime, where, who)

    legevakt = caller("bodo-legevakt")
    minute.move(10)
    for _ in range(3):
        admit(bodo, legevakt)
    refusals = REGISTRY.get_sample_value(*RATE_LIMITED_BODO) or 0.0
    with pytest.raises(RateLimited) as limited:
        admit(bodo, legevakt)
    assert REGISTRY.get_sample_value(*RATE_LIMITED_BODO) == refusals + 1
    refused(
        limited.value,
        RateLimited,
        429,
        "Too many requests",
        "more than 3 requests a minute to Bodø kommune",
    )
    assert limited.value.headers == {"Retry-After": "50"}
    admit(bodo, caller("bodo-epj"))  # another client: its own count
    admit(baerum, caller("bodo-legevakt", dpop=True))  # another municipality: its own count
    minute.move(49.5)  # 59.5 s into the minute: still this minute's count, 1 s to wait
    with pytest.raises(RateLimited) as last_moment:
        admit(bodo, legevakt)
    assert last_moment.value.headers == {"Retry-After": "1"}
    minute.move(0.5)  # the next minute: counted afresh
    for _ in range(3):
        admit(bodo, legevakt)
    with pytest.raises(RateLimited) as at_once:
        admit(bodo, legevakt)
    assert at_once.value.headers == {"Retry-After": "60"}


def test_the_rate_window_is_the_clock_minute_for_every_process(platform: TestRuntime) -> None:
    """The key names the municipality, the client and the minute since the epoch: every process
    counts the same minute in the same key (Redis), whenever it started."""
    bodo = tenant(platform, "1804")
    legevakt = caller("bodo-legevakt")
    start = MINUTE.timestamp()
    key = rules._rate_key(bodo, legevakt, start)
    assert key == f"rate:1804:bodo-legevakt:{int(start) // 60}"
    assert rules._rate_key(bodo, legevakt, start + 59.999) == key
    assert rules._rate_key(bodo, legevakt, start - 0.001) != key
    assert rules._rate_key(bodo, legevakt, start + 60) != key


def test_the_command_lines_accesses_carry_the_operator_as_they_are(platform: TestRuntime) -> None:
    bodo = tenant(platform, "1804")
    operator = Caller.command_line(now=MINUTE)
    assert rules.OperatorAccess.command_line(operator, bodo) == rules.OperatorAccess(operator, bodo)
    assert rules.RestrictionAccess.command_line(operator, bodo) == rules.RestrictionAccess(
        operator, bodo
    )
