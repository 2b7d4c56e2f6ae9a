"""``TieredCacheStorage``: Redis's entries kept in the process, and dropped as any process changes them.

Every test runs against a real redis-server; "another process" is another storage with its own
connections (the multi-process tests run real processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, RedisCacheStorage, TieredCacheStorage
from chocs_middleware.cache.entries.serialisation import decode_index
from chocs_middleware.cache.testing import StorageContract
from support.redis_server import RedisServer
from tests.conftest import Harness


def until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return False


def listening(tier: TieredCacheStorage) -> TieredCacheStorage:
    assert until(lambda: tier.listening), "the tier never subscribed"
    return tier


@pytest.fixture
def tiers(redis_server: RedisServer, redis_prefix: str) -> Iterator[Callable[[], TieredCacheStorage]]:
    made: list[TieredCacheStorage] = []

    def make() -> TieredCacheStorage:
        made.append(listening(TieredCacheStorage(RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix))))
        return made[-1]

    yield make
    for tier in made:
        tier.close()


class TestTieredStorageContract(StorageContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> Iterator[None]:
        self.url = redis_server.url
        self.made: list[TieredCacheStorage] = []
        yield
        for tier in self.made:
            tier.close()

    def make_storage(self) -> TieredCacheStorage:
        self.made.append(
            listening(TieredCacheStorage(RedisCacheStorage.from_url(self.url, prefix=f"tier-{time.time_ns()}:")))
        )
        return self.made[-1]


def test_a_read_is_answered_in_the_process_once_it_was_read_from_redis(
    tiers: Callable[[], TieredCacheStorage], redis_server: RedisServer
) -> None:
    tier = tiers()
    tier.set(CacheItem("a", b"A", 60))  # its own change comes back on the channel too, and drops a copy once
    raw = redis.Redis.from_url(redis_server.url)

    assert until(lambda: tier.get_many(["a"])[0] is not None and tier.stats()["near_hits"] > 0, seconds=1.0)
    raw.config_resetstat()
    answered = [item.body for _ in range(100) for item in tier.get_many(["a"]) if item]
    calls = raw.info("commandstats")
    raw.close()

    assert answered == [b"A"] * 100
    assert "cmdstat_mget" not in calls  # none of the hundred reached Redis


def test_a_change_in_another_process_reaches_this_one(tiers: Callable[[], TieredCacheStorage]) -> None:
    here, elsewhere = tiers(), tiers()
    here.set(CacheItem("a", b"old", 60))
    assert here.get("a").body == b"old" and here.get("a").body == b"old"  # now kept in the process

    elsewhere.set(CacheItem("a", b"new", 60))

    assert until(lambda: here.get("a").body == b"new", seconds=1.0)


def test_a_group_invalidation_and_a_purge_elsewhere_reach_this_process(tiers: Callable[[], TieredCacheStorage]) -> None:
    here, elsewhere = tiers(), tiers()
    since = here.storage_time()  # type: ignore[attr-defined]
    here.compare_and_set_grouped("r", None, [CacheItem("v", b"grouped", 60)], [("g", "v")], [], since)  # type: ignore[attr-defined]
    here.set(CacheItem("w", b"plain", 60))
    assert here.get("v") and here.get("w")

    elsewhere.invalidate_groups(["g"], 60)  # type: ignore[attr-defined]
    assert until(lambda: here.get_many(["v"]) == [None], seconds=1.0)

    elsewhere.remove_all(60)  # type: ignore[attr-defined]
    assert until(lambda: here.get_many(["w"]) == [None], seconds=1.0)


def test_while_not_subscribed_the_process_copy_is_not_trusted(private_redis: RedisServer, redis_prefix: str) -> None:
    tier = listening(TieredCacheStorage(RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)))
    try:
        tier.set(CacheItem("a", b"A", 600))
        tier.get("a")

        private_redis.stop()
        assert until(lambda: not tier.listening, seconds=2.0), "a lost subscription must be noticed"
        with pytest.raises(redis.exceptions.ConnectionError):
            tier.get("a")  # not answered from the process: Redis is asked, and is down

        private_redis.start()
        assert until(lambda: tier.listening, seconds=10.0)
        assert tier.get_many(["a"]) == [None]  # a Redis without persistence came back empty
    finally:
        tier.close()


class RacingRedis(RedisCacheStorage):
    """Between reading an item and returning it, another process changes it (and the change is
    delivered): the deterministic interleaving of a read in flight and a write."""

    elsewhere: RedisCacheStorage
    tier: TieredCacheStorage | None = None

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        found = super().get_many(item_ids)
        if self.tier is not None:
            before = self.tier.stats()["near_hits"], self.tier._epoch
            self.elsewhere.set(CacheItem(item_ids[0], b"new", 60))
            assert until(lambda: self.tier is not None and self.tier._epoch > before[1], seconds=1.0)
            self.tier = None
        return found


def test_a_read_raced_by_a_change_is_not_kept(redis_server: RedisServer, redis_prefix: str) -> None:
    far = RacingRedis.from_url(redis_server.url, prefix=redis_prefix)
    far.elsewhere = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    tier = listening(TieredCacheStorage(far))
    try:
        far.elsewhere.set(CacheItem("a", b"old", 60))
        far.tier = tier

        raced = tier.get_many(["a"])  # read "old"; "new" was written before it returned
        after = tier.get_many(["a"])

        assert [item.body for item in raced if item] == [b"old"]  # concurrent with the write
        assert [item.body for item in after if item] == [b"new"]  # the old copy was not kept
    finally:
        far.elsewhere.close()
        tier.close()


def test_only_a_storage_that_publishes_its_changes_can_be_tiered() -> None:
    from chocs_middleware.cache import CollectableInMemoryCacheStorage

    with pytest.raises(TypeError, match="publishes its changes"):
        TieredCacheStorage(CollectableInMemoryCacheStorage())


def test_through_the_middleware_a_write_in_one_process_reaches_the_others_tier(
    tiers: Callable[[], TieredCacheStorage],
) -> None:
    version = {"n": 1}
    harnesses = [Harness(tiers()), Harness(tiers())]
    for harness in harnesses:

        @harness.app.get("/items/{id}", cache_expiry=600, cache_groups=("items",))
        def read(request: HttpRequest) -> HttpResponse:
            return HttpResponse(f"v{version['n']}")

        @harness.app.post("/items", cache_invalidates=("items",))
        def write(request: HttpRequest) -> HttpResponse:
            version["n"] += 1
            return HttpResponse("", 201)

    reading, writing = harnesses
    reading.client.get("/items/1")
    assert reading.client.get("/items/1").headers["Cache-Status"].startswith("chocs-cache; hit")

    writing.client.post("/items")

    assert until(lambda: reading.client.get("/items/1").text == "v2", seconds=1.0)


def test_a_purge_returns_once_every_tier_has_dropped_its_copies(
    tiers: Callable[[], TieredCacheStorage], redis_server: RedisServer, redis_prefix: str
) -> None:
    readers, purging = [tiers() for _ in range(3)], Harness(tiers())

    @purging.app.get("/items/{id}", cache_expiry=600)
    def item(request: HttpRequest) -> HttpResponse:
        return HttpResponse("item")

    purging.client.get("/items/1")
    raw = redis.Redis.from_url(redis_server.url)
    ids = sorted(key.decode()[len(redis_prefix) + 2 :] for key in raw.scan_iter(f"{redis_prefix}0:[rv]*"))
    raw.close()
    for reader in readers:  # each holds the index and the response in its process now
        assert until(lambda reader=reader: all(reader.get_many(ids)) and reader.stats()["near_hits"] > 0)  # type: ignore[misc]

    purging.middleware.purge("/items/1")

    # The stored response is gone from every tier: the index that carried it is gone too, or
    # replaced by the invalidated index, which carries nothing.
    for reader in readers:
        for kept in reader._near.get_many(ids):  # type: ignore[attr-defined]
            assert kept is None or decode_index(kept.body).carried is None
