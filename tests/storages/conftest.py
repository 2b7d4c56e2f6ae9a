"""Fixtures of the storage tests: a ``RedisCacheStorage`` on the session's redis-server under this
test's own prefix, and a plain client of that server (to look at what the cache wrote); and the
route most of them cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.harness import Harness
from support.redis_server import RedisServer


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
