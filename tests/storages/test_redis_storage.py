"""RedisCacheStorage against a real redis-server (started by the tests on a free loopback port)."""

from __future__ import annotations

import gc
import logging
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, ILockableCacheStorage, IMultiGetCacheStorage, RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Harness, versioned_items
from tests.storages.conftest import counted_route


def test_it_offers_every_capability_the_middleware_can_use(storage: RedisCacheStorage) -> None:
    assert isinstance(storage, IMultiGetCacheStorage)
    assert isinstance(storage, ILockableCacheStorage)


def test_redis_expires_entries_itself(storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str) -> None:
    storage.set(CacheItem("a", b"body", 30))

    assert 29_000 < raw.pttl(f"{redis_prefix}0:a") <= 30_000  # in the first epoch, "0"
    assert storage.get("a").ttl == 30


def test_stored_responses_are_kept_for_their_lifetime_and_stale_window(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage, keep_stale=0)  # the stale window alone sets the retention here
    counted_route(harness, cache_expiry=10, cache_stale_if_error=30)

    started = time.monotonic()
    harness.client.get("/items/1")

    ttls = sorted(raw.pttl(key) for key in raw.scan_iter(f"{redis_prefix}*"))
    took = (time.monotonic() - started) * 1000  # a busy machine may take a while: Redis counts down meanwhile
    # the path's index (which carries its one response), the list of its path's responses on
    # every host (for a purge of the path), and the list of hosts that have responses
    assert len(ttls) == 3
    assert all(39_000 - took < ttl <= 40_000 for ttl in ttls), (ttls, took)


def test_a_missing_redis_package_is_a_clear_import_error() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n"
        "    from chocs_middleware.cache import RedisCacheStorage\n"
        "except ImportError as error:\n"
        "    print(error)\n"
        "import chocs_middleware.cache  # the core still imports\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert 'pip install "chocs-middleware.cache[redis]"' in result.stdout


def test_a_client_that_decodes_responses_is_refused_when_used_as_it_is(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses=False"):
            RedisCacheStorage(client, timeout=None)
        RedisCacheStorage(client).close()  # with its own bounded connections, it decodes nothing
    finally:
        client.close()


def test_calls_are_bounded_and_never_retried(storage: RedisCacheStorage) -> None:
    client = storage.client
    assert isinstance(client, redis.Redis)
    settings = client.connection_pool.connection_kwargs

    assert settings["socket_timeout"] == settings["socket_connect_timeout"] == 0.25
    retry = client.get_retry()
    assert retry is not None and retry.get_retries() == 0


def test_the_lock_is_taken_once_released_only_by_its_owner_and_expires(storage: RedisCacheStorage) -> None:
    token = storage.acquire_lock("key", ttl=0.3)
    assert token is not None
    assert storage.acquire_lock("key", ttl=0.3) is None

    storage.release_lock("key", "not-the-owner")
    assert storage.acquire_lock("key", ttl=0.3) is None

    time.sleep(0.35)
    late_owner = storage.acquire_lock("key", ttl=5)
    assert late_owner is not None
    storage.release_lock("key", token)  # the first owner, too late: must not free the new owner's lock
    assert storage.acquire_lock("key", ttl=5) is None

    storage.release_lock("key", late_owner)
    assert storage.acquire_lock("key", ttl=5) is not None


def wait_for_a_hit(harness: Harness, path: str, seconds: float = 5.0) -> bool:
    """Request ``path`` until it is served from storage (after a fault, the storage rests 1 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if harness.client.get(path).headers["Cache-Status"].startswith("chocs-cache; hit"):
            return True
        time.sleep(0.1)
    return False


class TestFailures:
    def storage(self, server: RedisServer, prefix: str) -> RedisCacheStorage:
        return RedisCacheStorage.from_url(server.url, prefix=prefix, timeout=0.2)

    def test_redis_down_then_back(
        self, private_redis: RedisServer, redis_prefix: str, cache_log: pytest.LogCaptureFixture
    ) -> None:
        storage = self.storage(private_redis, redis_prefix)
        harness = Harness(storage)
        counted_route(harness)
        harness.client.get("/items/1")
        assert harness.client.get("/items/1").headers["Cache-Status"].startswith("chocs-cache; hit")

        private_redis.stop()
        down = [harness.client.get("/items/1") for _ in range(20)]
        private_redis.start()
        resumed = wait_for_a_hit(harness, "/items/1")
        storage.close()

        assert [response.text for response in down] == ["item 1"] * 20
        assert harness.calls["read"] >= 1 + 20
        warnings = [record for record in cache_log.records if record.levelno == logging.WARNING]
        assert 1 <= len(warnings) <= 3  # once per kind of failure, not once per request
        assert resumed

    def test_a_slow_redis_costs_a_request_the_timeout_not_the_stall(
        self, private_redis: RedisServer, redis_prefix: str
    ) -> None:
        storage = self.storage(private_redis, redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        harness = Harness(storage)
        counted_route(harness)
        harness.client.get("/items/1")

        raw.client_pause(2000, all=True)
        started = time.monotonic()
        response = harness.client.get("/items/1")
        elapsed = time.monotonic() - started
        raw.client_unpause()
        raw.close()
        storage.close()

        assert response.text == "item 1"
        assert harness.calls["read"] == 2
        assert elapsed < 0.6  # one 0.2 s timeout (then the storage rests), not the 2 s stall


class TestWhatRedisRefuses:
    def test_at_maxmemory_with_noeviction_it_keeps_serving_what_it_holds(
        self, private_redis: RedisServer, redis_prefix: str
    ) -> None:
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        harness = Harness(storage)
        counted_route(harness)
        try:
            harness.client.get("/items/hot")
            raw.set("filler", b"x" * 256 * 1024)
            used = int(raw.info("memory")["used_memory"])
            raw.config_set("maxmemory-policy", "noeviction")
            raw.config_set("maxmemory", str(used - 128 * 1024))  # over its maxmemory: writes are refused

            hot = [harness.client.get("/items/hot").headers["Cache-Status"] for _ in range(100)]
            cold = harness.client.get("/items/cold")
        finally:
            raw.config_set("maxmemory", "0")
            raw.close()
            storage.close()

        assert all(status.startswith("chocs-cache; hit") for status in hot)
        assert cold.headers["Cache-Status"].endswith("detail=storage-unavailable")
        assert cold.text == "item cold"

    def test_an_invalidation_during_a_write_pause_is_remembered_and_retried(
        self, private_redis: RedisServer, redis_prefix: str
    ) -> None:
        storages = [RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix) for _ in range(2)]
        this_process, other_process = Harness(storages[0]), Harness(storages[1])
        versioned_items(this_process, other_process)

        raw = redis.Redis.from_url(private_redis.url)
        try:
            this_process.client.get("/items/1")
            raw.execute_command("CLIENT", "PAUSE", "1500", "WRITE")  # type: ignore[no-untyped-call]  # reads go on
            patched = this_process.client.patch("/items/1", "x")
            during = this_process.client.get("/items/1")
            raw.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
            retried = wait_until(lambda: not this_process.middleware._cache.guard.pending, this_process, "/items/1")
            after = other_process.client.get("/items/1")
        finally:
            raw.close()
            for storage in storages:
                storage.close()

        assert patched.headers["Cache-Status"].endswith("detail=invalidation-failed")
        assert during.text == "v2"
        assert retried
        assert after.text == "v2"

    def test_an_entry_whose_expiry_is_not_a_number_is_a_miss_and_removed(
        self, storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
    ) -> None:
        harness = Harness(storage)
        counted_route(harness)
        harness.client.get("/items/1")
        keys = [key for key in raw.scan_iter(f"{redis_prefix}*") if raw.type(key) == b"string"]
        for key in keys:
            value: bytes = raw.get(key)  # type: ignore[assignment]
            raw.set(key, struct.pack("!d", float("nan")) + value[8:])

        first = harness.client.get("/items/1")
        second = harness.client.get("/items/1")

        assert first.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
        assert second.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert all(raw.pttl(key) > 0 for key in raw.scan_iter(f"{redis_prefix}*"))


def wait_until(condition: Callable[[], bool], harness: Harness, path: str, seconds: float = 5.0) -> bool:
    """Request ``path`` (which retries what is pending) until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        harness.client.get(path)
        time.sleep(0.1)
    return condition()


def test_large_bodies_read_from_redis_are_not_kept_in_the_process(storage: RedisCacheStorage) -> None:
    harness = Harness(storage, max_body_size=1024 * 1024)

    @harness.app.get("/files/{n}", cache_expiry=600)
    def file(request: HttpRequest) -> HttpResponse:
        return HttpResponse(bytes(256 * 1024))

    for number in range(16):
        harness.client.get(f"/files/{number}")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(2):
        for number in range(16):
            assert harness.client.get(f"/files/{number}").headers["Cache-Status"].startswith("chocs-cache; hit")
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert kept < 1024 * 1024  # 16 bodies of 256 KiB live in Redis, not in this process


def test_a_group_purge_that_failed_midway_is_finished_by_its_retry(storage: RedisCacheStorage) -> None:
    since = storage.storage_time()
    for number in range(3):
        member = f"v{number}"
        storage.compare_and_set_grouped(f"r{number}", None, [CacheItem(member, b"x", 60)], [("g", member)], [], since)
    list_key = storage._topology.list_key("g")
    # The first step of a purge (the group marked, its list taken aside), and then Redis went away.
    storage._take_for_draining(keys=[list_key, storage._topology.mark_key("g"), f"{list_key}:purging"], args=[60_000])

    removed = storage.invalidate_groups(["g"], 60)

    assert removed == 3
    assert all(storage.get_many([f"v{number}"]) == [None] for number in range(3))
