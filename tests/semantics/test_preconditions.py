"""RFC 9110 §13.2.2, one rule per test."""

from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.preconditions import Conditions, Outcome, evaluate

ETAG = '"v2"'
MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"
EARLIER = "Sat, 05 Nov 1994 08:49:37 GMT"
LATER = "Mon, 07 Nov 1994 08:49:37 GMT"


def outcome(safe: bool = True, **fields: str) -> Outcome:
    return evaluate(Conditions(**fields), safe, ETAG, MODIFIED).outcome


@pytest.mark.parametrize("if_none_match", ['"v2"', 'W/"v2"', '"v1", "v2"', "*", ' "v1" ,W/"v2" '])
def test_if_none_match_that_matches_is_304_for_get(if_none_match: str) -> None:
    assert outcome(if_none_match=if_none_match) is Outcome.NOT_MODIFIED


@pytest.mark.parametrize("if_none_match", ['"v1"', '"v1", W/"v3"', '"V2"'])
def test_if_none_match_that_does_not_match_proceeds(if_none_match: str) -> None:
    assert outcome(if_none_match=if_none_match) is Outcome.PROCEED


def test_if_none_match_that_matches_on_an_unsafe_method_is_412() -> None:
    assert outcome(safe=False, if_none_match="*") is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ("*", Outcome.PROCEED),
        ('"v1", "v2"', Outcome.PROCEED),
        ('W/"v2"', Outcome.PRECONDITION_FAILED),
        ('"v1"', Outcome.PRECONDITION_FAILED),
    ],
)
def test_if_match_uses_strong_comparison(if_match: str, expected: Outcome) -> None:
    assert outcome(safe=False, if_match=if_match) is expected


def test_if_modified_since_at_or_after_last_modified_is_304() -> None:
    assert outcome(if_modified_since=MODIFIED) is Outcome.NOT_MODIFIED
    assert outcome(if_modified_since=LATER) is Outcome.NOT_MODIFIED
    assert outcome(if_modified_since=EARLIER) is Outcome.PROCEED


def test_if_modified_since_is_ignored_for_unsafe_methods() -> None:
    assert outcome(safe=False, if_modified_since=LATER) is Outcome.PROCEED


def test_if_none_match_wins_over_if_modified_since() -> None:
    assert outcome(if_none_match='"v1"', if_modified_since=LATER) is Outcome.PROCEED


def test_if_unmodified_since_fails_when_modified_after() -> None:
    assert outcome(safe=False, if_unmodified_since=EARLIER) is Outcome.PRECONDITION_FAILED
    assert outcome(safe=False, if_unmodified_since=MODIFIED) is Outcome.PROCEED


def test_if_match_wins_over_if_unmodified_since() -> None:
    assert outcome(safe=False, if_match='"v2"', if_unmodified_since=EARLIER) is Outcome.PROCEED


def test_if_match_is_evaluated_before_if_none_match() -> None:
    verdict = evaluate(Conditions(if_match='"v1"', if_none_match='"v2"'), True, ETAG, MODIFIED)
    assert (verdict.outcome, verdict.decided_by) == (Outcome.PRECONDITION_FAILED, "If-Match")


@pytest.mark.parametrize(
    "fields",
    [
        {"if_none_match": '"unterminated'},
        {"if_match": "W/ broken"},
        {"if_modified_since": "yesterday"},
        {"if_unmodified_since": "99"},
    ],
)
def test_malformed_fields_are_ignored(fields: dict[str, str]) -> None:
    for safe in (True, False):
        assert evaluate(Conditions(**fields), safe, ETAG, MODIFIED).outcome is Outcome.PROCEED


def test_a_malformed_if_none_match_lets_if_modified_since_apply() -> None:
    assert outcome(if_none_match='"broken', if_modified_since=LATER) is Outcome.NOT_MODIFIED


def test_without_validators_only_star_matches() -> None:
    assert evaluate(Conditions(if_none_match='"v2"'), True, None, None).outcome is Outcome.PROCEED
    assert evaluate(Conditions(if_none_match="*"), True, None, None).outcome is Outcome.NOT_MODIFIED
    assert evaluate(Conditions(if_match='"v2"'), False, None, None).outcome is Outcome.PRECONDITION_FAILED
    assert evaluate(Conditions(if_modified_since=LATER), True, None, None).outcome is Outcome.PROCEED
