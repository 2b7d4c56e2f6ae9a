from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.cache_control import MAX_DELTA_SECONDS, parse_cache_control


def test_directives_are_case_insensitive_and_comma_separated() -> None:
    directives = parse_cache_control(["Max-Age=60, PUBLIC, No-Transform"])

    assert directives.seconds("max-age") == 60
    assert directives.public
    assert directives.has("no-transform")


def test_several_lines_combine() -> None:
    directives = parse_cache_control(["private", "max-age=5"])

    assert directives.private and directives.seconds("max-age") == 5


def test_quoted_arguments_may_hold_commas() -> None:
    directives = parse_cache_control(['private="set-cookie, x-user", max-age="30"'])

    assert directives.directives["private"] == "set-cookie, x-user"
    assert directives.seconds("max-age") == 30


@pytest.mark.parametrize("value", ["max-age=abc", "max-age=-1", "max-age=", "max-age", "max-age=1.5"])
def test_invalid_delta_seconds_make_the_response_stale(value: str) -> None:
    assert parse_cache_control([value]).seconds("max-age") == 0


def test_conflicting_duplicates_make_the_response_stale() -> None:
    assert parse_cache_control(["max-age=60", "max-age=30"]).seconds("max-age") == 0
    assert parse_cache_control(["max-age=60, max-age=60"]).seconds("max-age") == 60


def test_huge_delta_seconds_are_capped() -> None:
    assert parse_cache_control(["s-maxage=999999999999999"]).seconds("s-maxage") == MAX_DELTA_SECONDS


def test_malformed_members_are_skipped() -> None:
    directives = parse_cache_control(['"junk, no-store', ",,", "=x, no-cache"])

    assert directives.no_cache
    assert directives.seconds("max-age") is None


def test_absent_directives() -> None:
    directives = parse_cache_control([])

    assert not (directives.no_store or directives.no_cache or directives.private or directives.public)
    assert directives.seconds("max-age") is None


def test_a_line_longer_than_8_kib_is_ignored_as_malformed() -> None:
    line = "max-age=60, " + "x" * 8 * 1024

    assert parse_cache_control([line]).directives == {}
