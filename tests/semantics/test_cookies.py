"""The Cookie field as pairs, read as chocs reads it (RFC 6265 §5.4)."""

from __future__ import annotations

import pytest
from chocs.http.http_cookies import parse_cookie_header

from chocs_middleware.cache.semantics.cookies import cookie_pairs, cookie_value


def test_pairs_are_trimmed_and_kept_in_order() -> None:
    assert cookie_pairs(" a=1; b = 2 ;c=") == [("a", "1"), ("b", "2"), ("c", "")]


def test_a_piece_without_an_equals_sign_is_skipped() -> None:
    assert cookie_pairs("broken; a=1") == [("a", "1")]


def test_a_missing_cookie_has_no_value_and_an_empty_one_has_an_empty_value() -> None:
    assert cookie_value(None, "a") is None
    assert cookie_value("b=1", "a") is None
    assert cookie_value("a=; b=1", "a") == ""


def test_every_value_sent_for_a_name_counts() -> None:
    assert cookie_value("a=1; a=2", "a") == "1;2"


@pytest.mark.parametrize("header", ["a=1; b=2", "a=%31; b=2", "a=1;b=2;a=3", "x=1; ab=2", "a=1=2"])
def test_requests_chocs_tells_apart_are_told_apart(header: str) -> None:
    """Keys follow the values as sent: two headers chocs parses to different values of a cookie
    never give one key (a key may be finer than chocs' values, never coarser)."""
    other = "a=1; b=2"
    if chocs_value(header, "a") != chocs_value(other, "a"):
        assert cookie_value(header, "a") != cookie_value(other, "a")


def chocs_value(header: str, name: str) -> str | None:
    jar = parse_cookie_header(header)
    return jar[name].value if name in jar else None
