"""``cache_max_age``: what a stored response tells clients and shared caches downstream, apart
from how long this cache keeps it (docs/caching.md), through the real WSGI path."""

from __future__ import annotations

from chocs import HttpRequest, HttpResponse, HttpStatus

from tests.conftest import Clock, Harness


def advertised_route(harness: Harness, **keywords: object) -> None:
    @harness.app.get("/items", cache_expiry=600, **keywords)
    def items(request: HttpRequest) -> HttpResponse:
        harness.count("items")
        if request.headers.get("if-none-match") == '"v1"':
            return HttpResponse("", HttpStatus.NOT_MODIFIED)
        return HttpResponse("items", headers={"etag": '"v1"'})


def test_cache_max_age_zero_tells_clients_no_cache_while_storage_still_answers(harness: Harness) -> None:
    advertised_route(harness, cache_max_age=0)

    miss = harness.client.get("/items")
    hit = harness.client.get("/items")
    revalidation = harness.client.get("/items", headers={"If-None-Match": '"v1"'})

    assert miss.headers["Cache-Control"] == hit.headers["Cache-Control"] == "no-cache"
    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert revalidation.status_int == 304 and revalidation.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["items"] == 1


def test_cache_max_age_advertises_less_than_the_cache_keeps(harness: Harness, clock: Clock) -> None:
    advertised_route(harness, cache_max_age=30)
    harness.client.get("/items")
    clock.advance(100)

    hit = harness.client.get("/items")

    assert hit.headers["Cache-Control"] == "max-age=30"
    assert hit.headers["Cache-Status"] == "chocs-cache; hit; ttl=500"


def test_the_handlers_own_cache_control_wins_over_cache_max_age(harness: Harness) -> None:
    @harness.app.get("/own", cache_expiry=600, cache_max_age=0)
    def own(request: HttpRequest) -> HttpResponse:
        return HttpResponse("own", headers={"cache-control": "max-age=60"})

    assert harness.client.get("/own").headers["Cache-Control"] == "max-age=60"


def test_a_refreshed_response_is_advertised_and_kept_by_the_route_again(clock: Clock) -> None:
    harness = Harness(clock=clock)
    advertised_route(harness, cache_max_age=0)
    harness.client.get("/items")
    clock.advance(601)  # stale: the next request asks the handler, whose 304 refreshes the stored one

    refreshed = harness.client.get("/items")
    clock.advance(300)
    later = harness.client.get("/items")

    assert refreshed.headers["Cache-Control"] == "no-cache"
    assert refreshed.headers["Cache-Status"].startswith("chocs-cache; fwd=stale; fwd-status=304")
    assert later.headers["Cache-Status"] == "chocs-cache; hit; ttl=300"  # fresh for cache_expiry, not "no-cache"
    assert harness.calls["items"] == 2
