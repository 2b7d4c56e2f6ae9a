"""Writes invalidate what they changed (RFC 9111 §4.4; docs/design.md), on every kind of storage."""

from __future__ import annotations

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import CacheItem, CollectableInMemoryCacheStorage
from tests.conftest import Harness
from tests.user_storages import STORAGE_FACTORIES


def article_routes(harness: Harness, write_status: HttpStatus = HttpStatus.OK) -> dict[str, str]:
    articles = {"1": "first", "2": "second"}

    @harness.app.get("/articles/{id}", cache_expiry=600, cache_vary=("accept-language",))
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        article_id = str(request.path_parameters["id"])
        return HttpResponse(f"{articles[article_id]} ({request.headers.get('accept-language')})")

    def write(request: HttpRequest) -> HttpResponse:
        harness.count("write")
        if write_status < 300:
            articles[str(request.path_parameters["id"])] = str(request)
        return HttpResponse("", write_status)

    for method in (harness.app.patch, harness.app.put, harness.app.post, harness.app.delete):
        method("/articles/{id}", cache=True)(write)
    return articles


@pytest.mark.parametrize("storage_name", STORAGE_FACTORIES)
def test_patch_removes_every_variant_of_the_resource(storage_name: str) -> None:
    harness = Harness(STORAGE_FACTORIES[storage_name]())
    article_routes(harness)
    for language in ("en", "de", "en", "de"):
        harness.client.get("/articles/1", headers={"Accept-Language": language})
    assert harness.calls["read"] == 2

    harness.client.patch("/articles/1", "edited", headers={"Accept-Language": "fr"})

    english = harness.client.get("/articles/1", headers={"Accept-Language": "en"})
    german = harness.client.get("/articles/1", headers={"Accept-Language": "de"})
    assert (english.text, german.text) == ("edited (en)", "edited (de)")
    assert harness.calls["read"] == 4


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_every_unsafe_method_invalidates(method: str) -> None:
    harness = Harness()
    article_routes(harness)
    harness.client.get("/articles/1")

    response = getattr(harness.client, method)("/articles/1")
    harness.client.get("/articles/1")

    assert response.headers["Cache-Status"] == "chocs-cache; fwd=method; fwd-status=200; detail=invalidated"
    assert harness.calls["read"] == 2


def test_redirect_answer_to_a_write_invalidates() -> None:
    harness = Harness()
    article_routes(harness, write_status=HttpStatus.SEE_OTHER)
    harness.client.get("/articles/1")

    harness.client.post("/articles/1")
    harness.client.get("/articles/1")

    assert harness.calls["read"] == 2


def test_failed_write_leaves_the_cache_alone() -> None:
    harness = Harness()
    article_routes(harness, write_status=HttpStatus.CONFLICT)
    harness.client.get("/articles/1")

    response = harness.client.patch("/articles/1", "edited", expect_errors=True)
    hit = harness.client.get("/articles/1")

    assert response.headers["Cache-Status"] == "chocs-cache; fwd=method; fwd-status=409"
    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 1


def test_invalidation_reaches_only_the_target_resource(harness: Harness) -> None:
    article_routes(harness)
    harness.client.get("/articles/1")
    harness.client.get("/articles/2")

    harness.client.patch("/articles/1", "edited")

    assert harness.client.get("/articles/2").headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 2


def test_a_write_to_another_path_leaves_stored_responses_alone(harness: Harness) -> None:
    article_routes(harness)

    @harness.app.patch("/other/{id}")
    def other(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    harness.client.get("/articles/1")
    response = harness.client.patch("/other/1")

    assert response.headers["Cache-Status"] == "chocs-cache; fwd=method; fwd-status=200; detail=invalidated"
    assert harness.client.get("/articles/1").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_a_delete_route_without_any_cache_keyword_still_invalidates_its_path(harness: Harness) -> None:
    """RFC 9111 §4.4: the cache MUST invalidate the target URI; a forgotten keyword must not leave stale data."""
    article_routes(harness)

    @harness.app.delete("/notes/{id}")
    def delete_note(request: HttpRequest) -> HttpResponse:
        harness.count("delete")
        return HttpResponse("", 204)

    @harness.app.get("/notes/{id}", cache_expiry=600)
    def read_note(request: HttpRequest) -> HttpResponse:
        harness.count("read note")
        expanded = " (expanded)" if request.query_string.get("expand") else ""  # ?expand=1 is another response
        return HttpResponse(("gone" if harness.calls["delete"] else "a note") + expanded)

    harness.client.get("/notes/7")
    harness.client.get("/notes/7?expand=1")

    harness.client.delete("/notes/7")

    assert harness.client.get("/notes/7").text == "gone"
    assert harness.client.get("/notes/7?expand=1").text == "gone (expanded)"
    assert harness.calls["read note"] == 4


def test_variant_missing_from_the_index_is_still_invalidated() -> None:
    """A variant the index does not list (two processes raced on the index) dies with the index."""
    storage = CollectableInMemoryCacheStorage()
    harness = Harness(storage)
    article_routes(harness)
    harness.client.get("/articles/1", headers={"Accept-Language": "en"})
    harness.client.get("/articles/1", headers={"Accept-Language": "de"})
    index_id, index_item = next((key, kept) for key, kept in storage._items.items() if key.startswith("r"))
    only_english = index_item.body.split(b',"v":')[0] + b',"v":[]}'
    harness.storage.set(CacheItem(index_id, only_english, 600))
    assert harness.client.get("/articles/1", headers={"Accept-Language": "de"}).text == "first (de)"

    harness.client.patch("/articles/1", "edited")

    assert harness.client.get("/articles/1", headers={"Accept-Language": "de"}).text == "edited (de)"
