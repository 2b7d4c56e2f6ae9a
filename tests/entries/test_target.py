"""``RequestTarget``: the ids of what a request asks for, remembered once a URL is asked for again."""

from __future__ import annotations

from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache.entries import target
from support.harness import Harness


def item_route(harness: Harness) -> None:
    @harness.app.get("/items/{id}", cache_expiry=60)
    def item(request: HttpRequest) -> HttpResponse:
        harness.count("item")
        return HttpResponse(f"item {request.path_parameters['id']}")


def remembered(path: str) -> bool:
    return any(key[2] == path for key in list(target._RESOURCES))


def test_the_ids_of_a_url_asked_for_once_are_not_remembered_and_those_found_stored_are(harness: Harness) -> None:
    item_route(harness)

    for number in range(50):
        harness.client.get(f"/items/once-{number}")
    hit = harness.client.get("/items/once-7")

    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert remembered("/items/once-7")
    assert not any(remembered(f"/items/once-{number}") for number in (0, 8, 49))


def test_a_long_tail_of_urls_asked_for_once_leaves_a_hot_urls_ids_remembered(harness: Harness) -> None:
    item_route(harness)
    harness.client.get("/items/hot")
    harness.client.get("/items/hot")  # found stored: remembered

    for number in range(target._RESOURCES.max_entries + 100):  # more than the memo holds
        harness.client.get(f"/items/tail-{number}")

    assert remembered("/items/hot")
    assert harness.client.get("/items/hot").headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["item"] == 1 + target._RESOURCES.max_entries + 100
