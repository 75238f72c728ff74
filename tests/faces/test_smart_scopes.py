"""The scope translation itself, without a platform: what a token's ``scope`` claim gives, and
the built-in issuer's decision on any scopes asked (an answer, never an error)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from journalloft.faces.fhir import smart
from journalloft.platform.auth.issuer import BuiltinIssuer
from journalloft.platform.auth.scopes import Scopes, ScopeVocabulary
from journalloft.platform.plugins.registry import discover_services

SCOPES = Scopes([smart.vocabulary({s.name: s for s in discover_services()})])
ALIASES = SCOPES.aliases


def test_translation_is_remembered_per_claim_and_ignores_what_is_no_scope() -> None:
    vocabulary = ScopeVocabulary(
        name="test", aliases={"system/X.rs": frozenset({"a:read", "b:read"})}
    )
    scopes = Scopes([vocabulary])
    first = scopes.granted("system/X.rs other")
    assert first == {"system/X.rs", "a:read", "b:read", "other"}
    assert scopes.granted("system/X.rs other") is first  # remembered: no second split
    assert scopes.granted(["system/X.rs", {"not": "a scope"}, 5]) == {
        "system/X.rs",
        "a:read",
        "b:read",
    }
    assert scopes.granted(7) == frozenset()
    assert Scopes().granted("system/X.rs") == {"system/X.rs"}  # no vocabulary: nothing more
    merged = Scopes(
        [vocabulary, ScopeVocabulary(name="t2", aliases={"system/X.rs": frozenset({"c:read"})})]
    )
    assert merged.stands_for("system/X.rs") == frozenset({"a:read", "b:read", "c:read"})


@given(
    st.lists(
        st.one_of(
            st.text(min_size=1, max_size=40).filter(lambda t: not any(c.isspace() for c in t)),
            st.sampled_from(sorted(ALIASES)),
            st.from_regex(r"(system|patient|user)/[A-Za-z*]{1,12}\.[a-z*]{1,6}", fullmatch=True),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_scope_is_given_only_for_a_grant_and_otherwise_refused_in_words(
    asked: list[str],
) -> None:
    """Whatever is asked, the issuer's decision is an answer (never an error), and it gives a
    scope only if it is granted natively or stands for something granted."""
    allowed = {"news2:read", "restrictions:write"}
    refusal = BuiltinIssuer._refused_scopes(set(asked), allowed, SCOPES)
    all_given = all(
        scope in allowed or bool((SCOPES.stands_for(scope) or frozenset()) & allowed)
        for scope in asked
    )
    assert (refusal is None) == all_given
    if refusal is not None:
        refused = [s for s in asked if s not in allowed and not SCOPES.stands_for(s)]
        for scope in refused:
            assert scope in refusal
