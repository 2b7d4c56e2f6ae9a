"""What clients send cannot make the cache slow, wrong or large (RFC 9110 §13.1; RFC 3986 §6.2.2)."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import InMemoryCacheStorage
from tests.conftest import Harness


def user_routes(harness: Harness) -> None:
    @harness.app.get("/users/{user_id}", cache_expiry=600, cache_vary=("accept-language",))
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(f"user {request.path_parameters['user_id']!r}", headers={"etag": '"u1"'})

    @harness.app.patch("/users/{user_id}", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 204)


def test_a_64_kib_if_none_match_is_ignored_as_malformed(harness: Harness) -> None:
    user_routes(harness)
    harness.client.get("/users/1")

    response = harness.client.get("/users/1", headers={"If-None-Match": ", " * 32 * 1024 + '"u1"'})

    assert response.status_int == 200  # the field is ignored, not evaluated
    assert response.headers["Cache-Status"].startswith("chocs-cache; hit")


@pytest.mark.parametrize("spelling", ["/USERS/1", "/users/+1", "/users/%201", "/users/1%0A", "/Users/1"])
def test_spellings_that_reach_the_handler_as_the_same_parameters_share_an_entry(
    harness: Harness, spelling: str
) -> None:
    user_routes(harness)
    harness.client.get("/users/1")

    response = harness.client.get(spelling)

    assert response.text == "user 1"
    assert response.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 1


def test_a_write_through_one_spelling_invalidates_the_others(harness: Harness) -> None:
    user_routes(harness)
    harness.client.get("/users/1")

    harness.client.patch("/users/+1", "x")

    assert harness.client.get("/USERS/1").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_parameters_that_differ_for_the_handler_stay_apart(harness: Harness) -> None:
    user_routes(harness)

    answers = {harness.client.get(path).text for path in ("/users/1", "/users/1.0", "/users/01", "/users/true")}

    assert answers == {"user 1", "user 1.0", "user '01'", "user True"}
    assert harness.calls["read"] == 4


def test_query_strings_share_an_entry_only_when_chocs_parses_them_alike(harness: Harness) -> None:
    @harness.app.get("/search", cache_expiry=600)
    def search(request: HttpRequest) -> HttpResponse:
        harness.count("search")
        return HttpResponse(repr(dict(request.query_string)))

    first = harness.client.get("/search?a[]=2&a=1")
    second = harness.client.get("/search?a=1&a[]=2")
    third = harness.client.get("/search?b=2&a=1")
    fourth = harness.client.get("/search?a=1&b=2")

    assert first.text != second.text  # chocs reads them differently: never one entry
    assert harness.calls["search"] == 3
    assert fourth.text == third.text
    assert fourth.headers["Cache-Status"].startswith("chocs-cache; hit")


def test_a_get_with_a_body_goes_to_the_handler_and_is_not_stored(harness: Harness) -> None:
    user_routes(harness)
    harness.client.get("/users/1")

    fat = harness.client.request("/users/1", method="GET", body=b'{"filter": "x"}')
    plain_after = harness.client.get("/users/2")
    fat_again = harness.client.request("/users/2", method="GET", body=b'{"filter": "y"}')

    assert fat.headers["Cache-Status"] == "chocs-cache; fwd=bypass; fwd-status=200; detail=request-body"
    assert plain_after.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
    assert fat_again.headers["Cache-Status"].startswith("chocs-cache; fwd=bypass")
    assert harness.calls["read"] == 4


def test_a_flood_of_unique_large_headers_stays_within_the_storage_bound_and_a_constant() -> None:
    storage = InMemoryCacheStorage(max_items=1000, max_bytes=1024 * 1024)
    harness = Harness(storage)
    user_routes(harness)
    harness.client.get("/users/1")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]

    for number in range(600):
        large = f"{number}-" + "x" * 60_000
        harness.client.get(
            f"/users/{number}?q={large[:2000]}",
            headers={"Accept-Language": large, "If-None-Match": f'"{large}"', "If-Modified-Since": large},
        )

    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < storage.max_bytes + 16 * 1024 * 1024  # docs/security.md: about 16 MiB of memos
