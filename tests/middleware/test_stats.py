"""``CacheMiddleware.stats()``: this process's counters, as an operator reads them."""

from __future__ import annotations

from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, CollectableInMemoryCacheStorage
from tests.conftest import Harness


def routes(harness: Harness) -> None:
    @harness.app.get("/items/{id}", cache_expiry=60, cache_groups=("items",))
    def item(request: HttpRequest) -> HttpResponse:
        return HttpResponse("item", headers={"etag": '"v1"'})

    @harness.app.get("/private", cache_expiry=60)
    def private(request: HttpRequest) -> HttpResponse:
        return HttpResponse("mine", headers={"cache-control": "no-store"})

    @harness.app.patch("/items/{id}", cache_invalidates=("items",))
    def update(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 204)


def test_stats_count_every_outcome_once(harness: Harness) -> None:
    routes(harness)
    client = harness.client
    client.get("/items/1")  # uri-miss, stored
    client.get("/items/1")  # hit
    client.get("/items/1", headers={"If-None-Match": '"v1"'})  # hit, answered 304
    client.get("/items/1", headers={"Range": "bytes=0-1"})  # hit, answered 206
    client.get("/private")  # uri-miss, not stored: no-store
    client.patch("/items/1", "{}")  # method: the path and one group invalidated
    client.get("/items/1")  # uri-miss again
    removed = harness.middleware.purge_groups("items")

    stats = harness.middleware.stats()

    assert stats["responses"] == {"hit": 3, "uri-miss": 3, "method": 1}
    assert stats["answered_from_storage"] == {"304": 1, "412": 0, "206": 1, "416": 0}
    assert stats["stored"] == 2
    assert stats["not_stored"] == {"no-store": 1}
    assert stats["invalidations"] == {"paths": 1, "groups": 1}
    assert stats["purges"] == {"groups": 1, "responses_removed": removed} and removed == 1
    assert stats["storage"]["faults"] == 0
    assert stats["storage"]["responses"] == 0  # the purge took the one stored response
    assert set(stats["storage"]) >= {"items", "bytes", "evictions", "rested_seconds"}


def test_stats_say_when_the_storage_failed_and_was_rested() -> None:
    class Failing(CollectableInMemoryCacheStorage):
        def get_many(self, item_ids: object) -> list[CacheItem | None]:
            raise ConnectionError("down")

    harness = Harness(Failing())
    routes(harness)
    statuses = [harness.client.get("/items/1").headers["Cache-Status"] for _ in range(5)]

    stats = harness.middleware.stats()

    assert statuses[-1] == "chocs-cache; fwd=uri-miss; fwd-status=200; detail=storage-unavailable"
    assert stats["storage"]["faults"] == 3  # then the breaker rested reads
    assert stats["storage"]["rested_seconds"] == 1.0
    assert stats["not_stored"] == {"storage-unavailable": 5}
