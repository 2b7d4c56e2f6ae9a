"""What invalidations leave behind stays within the storage's bounds, and a purge costs what it
removes, not what else the cache has seen (in memory, and on a real redis-server)."""

from __future__ import annotations

import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, CollectableInMemoryCacheStorage, RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Harness


def notes(harness: Harness) -> None:
    @harness.app.get("/notes/{id}", cache_expiry=600)
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(f"note {request.path_parameters['id']}")

    @harness.app.post("/events/{id}")
    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 204)


def test_writes_to_paths_never_cached_do_not_evict_cached_responses() -> None:
    storage = CollectableInMemoryCacheStorage(max_items=100)
    harness = Harness(storage)
    notes(harness)
    for number in range(50):
        harness.client.get(f"/notes/{number}")

    for number in range(250):  # each leaves an invalidation's marker: bookkeeping, never a response's place
        harness.client.post(f"/events/{number}")

    statuses = [harness.client.get(f"/notes/{number}").headers["Cache-Status"] for number in range(50)]
    assert all(status.startswith("chocs-cache; hit") for status in statuses)
    assert storage.stats()["items"] <= 50 + 100  # the responses, and at most max_items of bookkeeping


def test_group_invalidations_are_bounded_and_still_refuse_what_was_computed_before_them() -> None:
    storage = CollectableInMemoryCacheStorage(max_items=100)
    since = storage.storage_time()
    kept_before = storage.size_bytes

    storage.invalidate_groups([f"group-{number}" for number in range(1_000)], 3600)

    assert len(storage._invalidations.marks) == 100  # the newest max_items; the others' times are one floor
    assert storage.size_bytes - kept_before <= 100 * (64 + len("group-999"))
    # A store computed before a forgotten invalidation (of any group) is refused all the same.
    written = storage.compare_and_set_grouped(
        "r0c0ffee-index", None, [CacheItem("v0c0ffee-1", b"old", 60)], [], ["group-1"], since
    )
    assert written is None


def test_a_purge_of_a_path_on_every_host_costs_what_that_path_stored(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage)

    @harness.app.get("/doc", cache_expiry=600)
    def doc(request: HttpRequest) -> HttpResponse:
        return HttpResponse("doc")

    @harness.app.get("/other", cache_expiry=600)
    def other(request: HttpRequest) -> HttpResponse:
        return HttpResponse("other")

    for number in range(500):  # anonymous requests naming unique hosts
        harness.client.get("/other", headers={"Host": f"h{number}.example"})
    harness.client.get("/doc", headers={"Host": "docs.example"})
    harness.middleware.purge("/nothing")  # loads the script
    raw = redis.Redis.from_url(redis_server.url)
    keys_before = sum(1 for _ in raw.scan_iter(f"{redis_prefix}*"))
    raw.config_resetstat()

    removed = harness.middleware.purge("/doc")
    calls = sum(
        stats["calls"] for name, stats in raw.info("commandstats").items() if name != "cmdstat_config|resetstat"
    )
    keys_after = sum(1 for _ in raw.scan_iter(f"{redis_prefix}*"))
    raw.close()
    storage.close()

    assert removed == 1
    assert calls < 40  # two scripts on two lists (and what runs inside them), not a marker per host ever seen
    assert keys_after <= keys_before  # no marker for each of the 500 hosts that never stored /doc
