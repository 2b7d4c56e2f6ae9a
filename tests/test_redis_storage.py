"""RedisCacheStorage against a real redis-server (started by the tests on a free loopback port)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, ILockableCacheStorage, IMultiGetCacheStorage, RedisCacheStorage
from tests.conftest import Harness
from tests.redis_server import RedisServer


@pytest.fixture
def storage(redis_server: RedisServer, redis_prefix: str) -> Iterator[RedisCacheStorage]:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    yield storage
    storage.close()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def counted_route(harness: Harness, **keywords: object) -> None:
    @harness.app.get("/items/{id}", **{"cache_expiry": 60, "cache_vary": ("accept",), **keywords})
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(f"item {request.path_parameters['id']}")

    @harness.app.patch("/items/{id}", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")


def test_it_offers_every_capability_the_middleware_can_use(storage: RedisCacheStorage) -> None:
    assert isinstance(storage, IMultiGetCacheStorage)
    assert isinstance(storage, ILockableCacheStorage)


def test_redis_expires_entries_itself(storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str) -> None:
    storage.set(CacheItem("a", b"body", 30))

    assert 29_000 < raw.pttl(f"{redis_prefix}a") <= 30_000
    assert storage.get("a").ttl == 30


def test_stored_responses_are_kept_for_their_lifetime_and_stale_window(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)
    counted_route(harness, cache_expiry=10, cache_stale_if_error=30)

    harness.client.get("/items/1")

    ttls = sorted(raw.pttl(key) for key in raw.scan_iter(f"{redis_prefix}*"))
    assert len(ttls) == 2  # the resource's index and its variant
    assert all(39_000 < ttl <= 40_000 for ttl in ttls)


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
    settings = storage.client.connection_pool.connection_kwargs

    assert settings["socket_timeout"] == settings["socket_connect_timeout"] == 0.25
    retry = storage.client.get_retry()
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


class TestCommandsPerRequest:
    """The figures the docs quote, counted by Redis itself."""

    def commands(self, raw: redis.Redis) -> dict[str, int]:
        stats = raw.info("commandstats")
        return {name[len("cmdstat_") :]: value["calls"] for name, value in stats.items() if name != "cmdstat_info"}

    def delta(self, raw: redis.Redis, before: dict[str, int]) -> dict[str, int]:
        after = self.commands(raw)
        changes = {name: calls - before.get(name, 0) for name, calls in after.items()}
        return {name: count for name, count in changes.items() if count and name not in ("info", "config|resetstat")}

    def test_a_hit_costs_one_command(self, private_redis: RedisServer, redis_prefix: str) -> None:
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        try:
            harness = Harness(storage)
            counted_route(harness)
            harness.client.get("/items/1")

            before = self.commands(raw)
            hit = harness.client.get("/items/1")
            hit_commands = self.delta(raw, before)

            before = self.commands(raw)
            harness.client.get("/items/2")
            miss_commands = self.delta(raw, before)

            before = self.commands(raw)
            harness.client.patch("/items/1", "{}")
            invalidation_commands = self.delta(raw, before)
        finally:
            storage.close()
            raw.close()

        assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert hit_commands == {"mget": 1}
        # Sent by the client: MGET, SET NX (lock), GET + SET + SET (index, variant), EVALSHA (unlock);
        # Redis also counts the GET and DEL that the unlock script runs inside the server.
        assert miss_commands == {"mget": 1, "set": 3, "get": 1 + 1, "evalsha": 1, "del": 1}
        assert sum(invalidation_commands.values()) == 3  # GET the index, DEL it and the one variant


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
