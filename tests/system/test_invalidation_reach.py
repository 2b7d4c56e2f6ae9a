"""A completed write reaches every process, whatever Redis was doing when it was made: paused, full,
a cluster master hung, or the reading process frozen. Real processes and a real redis-server (the
cache's own, which these tests pause and fill; the app's "database" is another one)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.redis_server import RedisClusterServers, RedisServer
from tests.conftest import Harness, versioned_items
from tests.processes import ROOT, AppProcess

pytestmark = pytest.mark.system

Start = Callable[..., list[AppProcess]]
PURGE = (sys.executable, "-m", "chocs_middleware.cache", "purge")


@pytest.fixture
def processes(
    private_redis: RedisServer, redis_server: RedisServer, redis_prefix: str
) -> Iterator[Callable[..., list[AppProcess]]]:
    """Two app processes whose cache is ``private_redis`` and whose data is in ``redis_server``."""
    started: list[AppProcess] = []

    def start(tier: bool = False) -> list[AppProcess]:
        pair = [AppProcess(private_redis.url, redis_prefix, tier=tier, data_url=redis_server.url) for _ in range(2)]
        started.extend(pair)
        return pair

    yield start
    for process in started:
        process.stop()


def versions_read(process: AppProcess, path: str, seconds: float) -> list[tuple[float, str]]:
    """(when, version) of every read of ``path`` through ``process`` for ``seconds``."""
    started, seen = time.monotonic(), []
    while time.monotonic() - started < seconds:
        body = process.request("GET", path)[1]
        seen.append((time.monotonic(), body.split()[2]))
    return seen


def test_a_write_made_while_redis_paused_writes_reaches_another_process_once_it_takes_them_again(
    processes: Start, private_redis: RedisServer
) -> None:
    writer, reader = processes()
    reader.request("GET", "/articles/1")
    assert reader.request("GET", "/articles/1")[2].startswith("chocs-cache; hit")
    raw = redis.Redis.from_url(private_redis.url)

    raw.execute_command("CLIENT", "PAUSE", "1000", "WRITE")  # type: ignore[no-untyped-call]
    paused_until = time.monotonic() + 1.0
    status, _, cache_status = writer.request("PATCH", "/articles/1")
    time.sleep(max(0.0, paused_until - time.monotonic()))
    seen = versions_read(reader, "/articles/1", 1.5)  # the writer gets no request from now on
    raw.close()

    assert (status, cache_status) == (204, "chocs-cache; fwd=method; fwd-status=204; detail=invalidation-failed")
    first_new = next(at for at, version in seen if version == "v2") - paused_until
    assert first_new < 0.5  # the writer's background retry landed (one retry interval, plus the paused call)
    assert all(version == "v2" for at, version in seen if at - paused_until >= first_new)


def test_a_write_made_while_redis_is_full_reaches_another_process_at_once(
    processes: Start, private_redis: RedisServer
) -> None:
    writer, reader = processes()
    reader.request("GET", "/articles/2")
    raw = redis.Redis.from_url(private_redis.url)
    try:
        raw.config_set("maxmemory-policy", "noeviction")  # Redis's default: a full Redis refuses writes
        raw.config_set("maxmemory", "1")

        patched = writer.request("PATCH", "/articles/2")
        after = [reader.request("GET", "/articles/2") for _ in range(20)]
    finally:
        raw.config_set("maxmemory", "0")
        raw.close()
    settled = reader.request("GET", "/articles/2")

    assert patched[2].endswith("detail=invalidation-failed")  # the marker could not be written...
    assert all("v2" in body for _, body, _ in after)  # ... but its index was deleted, which a full Redis accepts
    assert "v2" in settled[1]


def test_a_frozen_process_serves_nothing_from_its_tier_until_it_has_caught_up(
    processes: Start, private_redis: RedisServer, redis_prefix: str
) -> None:
    storer, frozen = processes(tier=True)
    for round_number in range(5):
        path = f"/articles/frozen-{round_number}"
        storer.request("GET", path)
        assert frozen.request("GET", path)[2].startswith("chocs-cache; hit")
        assert frozen.request("GET", path)[2].startswith("chocs-cache; hit")  # now a copy in its tier

        frozen.freeze()
        purged = subprocess.run(
            [*PURGE, "--redis", private_redis.url, "--prefix", redis_prefix, "url", path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        time.sleep(0.2)  # longer than its lease (1 s) in all, with the purge's wait for acknowledgements
        frozen.thaw()
        _, _, first_after = frozen.request("GET", path)

        assert purged.returncode == 4, purged.stderr
        assert "1 of 2 processes listening for changes did not acknowledge" in purged.stderr
        assert first_after.startswith("chocs-cache; fwd=uri-miss"), f"round {round_number}: {first_after}"


def test_a_write_on_a_cluster_whose_masters_hung_reaches_another_process_once_they_are_back(
    redis_cluster: RedisClusterServers, redis_prefix: str
) -> None:
    storages = [
        RedisCacheStorage.from_url(
            f"redis://127.0.0.1:{redis_cluster.nodes[0].port}/0", prefix=redis_prefix, cluster=True
        )
        for _ in range(2)
    ]
    writer, reader = Harness(storages[0]), Harness(storages[1])
    versioned_items(writer, reader)
    nodes = [redis.Redis(port=node.port) for node in redis_cluster.nodes]
    try:
        reader.client.get("/items/1")
        for node in nodes:
            node.execute_command("CLIENT", "PAUSE", "1000", "WRITE")  # type: ignore[no-untyped-call]
        paused_until = time.monotonic() + 1.0
        patched = writer.client.patch("/items/1", "x")
        time.sleep(max(0.0, paused_until - time.monotonic()) + 0.5)
        after = [reader.client.get("/items/1").text for _ in range(50)]
    finally:
        for node in nodes:
            node.close()
        for storage in storages:
            storage.close()

    assert patched.headers["Cache-Status"].endswith("detail=invalidation-failed")
    assert after == ["v2"] * 50


class TestOneTimeoutPerRequest:
    """A request pays one storage timeout at most (0.25 s by default), however many steps it has."""

    def app(self, storage: RedisCacheStorage) -> Harness:
        harness = Harness(storage)

        @harness.app.get("/items/{id}", cache_expiry=600, cache_groups=("items",))
        def read(request: HttpRequest) -> HttpResponse:
            return HttpResponse("item")

        @harness.app.patch("/items/{id}", cache_invalidates=("items", "item:{id}"))
        def write(request: HttpRequest) -> HttpResponse:
            return HttpResponse("", 204, headers={"location": "/items/1/history", "content-location": "/items"})

        return harness

    @staticmethod
    def close(harness: Harness, storage: RedisCacheStorage) -> None:
        """Close the storage once the invalidations left pending have landed: a retry after the
        close would open a connection no one closes."""
        retrier = harness.middleware._cache.guard.retrier
        assert retrier is None or retrier.settle()
        storage.close()

    def timed(self, call: Callable[[], object]) -> float:
        started = time.monotonic()
        call()
        return time.monotonic() - started

    def test_on_one_server(self, private_redis: RedisServer, redis_prefix: str) -> None:
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        harness = self.app(storage)
        harness.client.get("/items/1")
        raw = redis.Redis.from_url(private_redis.url)
        try:
            raw.execute_command("CLIENT", "PAUSE", "3000", "WRITE")  # type: ignore[no-untyped-call]
            write = self.timed(lambda: harness.client.patch("/items/1", "x"))
            miss = self.timed(lambda: harness.client.get("/items/2"))
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
            raw.close()
            self.close(harness, storage)

        assert write < 0.45  # one 0.25 s timeout: its path, Location, Content-Location and groups all pending
        assert miss < 0.45  # the lock's timeout, and then neither the clock nor the store is tried

    def test_on_a_cluster(self, redis_cluster: RedisClusterServers, redis_prefix: str) -> None:
        url = f"redis://127.0.0.1:{redis_cluster.nodes[0].port}/0"
        storage = RedisCacheStorage.from_url(url, prefix=redis_prefix, cluster=True)
        harness = self.app(storage)
        harness.client.get("/items/1")
        nodes = [redis.Redis(port=node.port) for node in redis_cluster.nodes]
        try:
            for node in nodes:
                node.execute_command("CLIENT", "PAUSE", "3000", "WRITE")  # type: ignore[no-untyped-call]
            write = self.timed(lambda: harness.client.patch("/items/1", "x"))
        finally:
            for node in nodes:
                node.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
                node.close()
            self.close(harness, storage)

        assert write < 0.45
