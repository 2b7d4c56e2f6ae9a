from __future__ import annotations

from chocs_middleware.cache.semantics.cache_control import parse_cache_control
from chocs_middleware.cache.semantics.freshness import (
    explicitly_shareable,
    freshness_lifetime,
    request_allows_reuse,
)

NOW = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


def lifetime(*lines: str, expires: str | None = None, date: str | None = DATE) -> tuple[int, bool]:
    return freshness_lifetime(parse_cache_control(lines), expires, date, NOW, default=600)


def test_s_maxage_then_max_age_then_expires_then_the_route() -> None:
    assert lifetime("max-age=10, s-maxage=20", expires="Sun, 06 Nov 1994 09:49:37 GMT") == (20, True)
    assert lifetime("max-age=10", expires="Sun, 06 Nov 1994 09:49:37 GMT") == (10, True)
    assert lifetime(expires="Sun, 06 Nov 1994 09:49:37 GMT") == (3600, True)
    assert lifetime() == (600, False)


def test_expires_counts_from_date_or_now() -> None:
    assert lifetime(expires="Sun, 06 Nov 1994 08:50:37 GMT", date=None) == (60, True)
    assert lifetime(expires="Sun, 06 Nov 1994 08:50:37 GMT", date="Sun, 06 Nov 1994 08:50:07 GMT") == (30, True)


def test_expires_in_the_past_or_invalid_means_expired() -> None:
    assert lifetime(expires="Thu, 01 Jan 1970 00:00:00 GMT") == (0, True)
    assert lifetime(expires="0") == (0, True)


def test_public_and_s_maxage_are_explicitly_shareable() -> None:
    assert explicitly_shareable(parse_cache_control(["public"]))
    assert explicitly_shareable(parse_cache_control(["s-maxage=1"]))
    assert not explicitly_shareable(parse_cache_control(["max-age=60"]))


def test_request_directives_that_refuse_a_stored_response() -> None:
    def allows(line: str, age: int = 10, fresh_for: int = 60) -> bool:
        return request_allows_reuse(parse_cache_control([line]), age, fresh_for)

    assert allows("")
    assert not allows("no-cache")
    assert not allows("max-age=0", age=0)
    assert allows("max-age=10") and not allows("max-age=9")
    assert allows("min-fresh=50") and not allows("min-fresh=51")
