"""Fixtures: a harness (``support.harness``) on a clock the tests move, and real Redis servers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import pytest

from chocs_middleware.cache import CollectableInMemoryCacheStorage, ICacheStorage, RedisCacheStorage
from support.harness import Clock, Harness, LiveServer, concurrently, header_lines, versioned_items
from support.redis_server import RedisClusterServers, RedisServer, RedisServerMissing

__all__ = ["Clock", "Harness", "LiveServer", "concurrently", "header_lines", "versioned_items"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(clock: Clock) -> Harness:
    return Harness(clock=clock)


@pytest.fixture(params=["in-memory", "redis"])
def storage_harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A harness on the in-memory storage, then on a real redis-server."""
    if request.param == "in-memory":
        yield Harness()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    storage = RedisCacheStorage.from_url(server.url, prefix=request.getfixturevalue("redis_prefix"))
    harness = Harness(storage)
    yield harness
    harness.settle()
    storage.close()


@pytest.fixture(params=["in-memory", "redis", "cluster"])
def any_storage(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ICacheStorage]:
    """The in-memory storage (on the test's clock), then a real redis-server, then a real Redis Cluster."""
    if request.param == "in-memory":
        yield CollectableInMemoryCacheStorage(clock=clock)
        return
    prefix = request.getfixturevalue("redis_prefix")
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        storage = RedisCacheStorage.from_url(server.url, prefix=prefix)
    else:
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        storage = RedisCacheStorage.from_url(
            f"redis://127.0.0.1:{cluster.nodes[0].port}/0", prefix=prefix, cluster=True
        )
    yield storage
    Harness.settle_all()  # the test's harnesses hold this storage
    storage.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole run; tests keep apart by key prefix."""
    server = start_redis()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """One real Redis Cluster (three masters) for the whole run; tests keep apart by key prefix."""
    try:
        cluster = RedisClusterServers()
    except RedisServerMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    yield cluster
    cluster.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and start."""
    server = start_redis()
    yield server
    server.close()


def start_redis() -> RedisServer:
    try:
        return RedisServer()
    except RedisServerMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture
def redis_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def cache_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.WARNING, logger="chocs_middleware.cache")
    yield caplog


@pytest.fixture
def live() -> Iterator[Callable[[Harness], LiveServer]]:
    servers: list[LiveServer] = []

    def start(harness: Harness) -> LiveServer:
        servers.append(LiveServer(harness.app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
