"""One contract for every storage: what the middleware relies on from get / set / collect.

A new storage (built-in or your own) is checked by adding its factory to ``STORAGE_FACTORIES``
in ``tests/storages.py`` (the Redis storage joins in ``tests/test_redis_storage.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, ICacheStorage, ICollectableCacheStorage, RedisCacheStorage
from tests.conftest import Harness
from tests.redis_server import RedisServer
from tests.storages import STORAGE_FACTORIES


@pytest.fixture(params=[*STORAGE_FACTORIES, "redis"])
def make_storage(request: pytest.FixtureRequest) -> Callable[[], ICacheStorage]:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")

        def make_redis_storage() -> ICacheStorage:
            storage = RedisCacheStorage.from_url(server.url, prefix=f"contract-{uuid.uuid4().hex}:")
            request.addfinalizer(storage.close)
            return storage

        return make_redis_storage
    return STORAGE_FACTORIES[request.param]


def test_storage_satisfies_the_protocol(make_storage: Callable[[], ICacheStorage]) -> None:
    assert isinstance(make_storage(), ICacheStorage)


def test_get_returns_what_set_stored(make_storage: Callable[[], ICacheStorage]) -> None:
    storage = make_storage()

    storage.set(CacheItem("a", b"body of a", 60))

    item = storage.get("a")
    assert (item.id, item.body) == ("a", b"body of a")


def test_get_of_an_unknown_id_raises(make_storage: Callable[[], ICacheStorage]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any exception is a miss; CacheError is the documented one
        make_storage().get("never stored")


def test_set_replaces_an_item(make_storage: Callable[[], ICacheStorage]) -> None:
    storage = make_storage()
    storage.set(CacheItem("a", b"old", 60))

    storage.set(CacheItem("a", b"new", 60))

    assert storage.get("a").body == b"new"


def reads_as_absent(storage: ICacheStorage, item_id: str) -> bool:
    """What the middleware concludes: a miss, an empty item (a tombstone) or an expired one."""
    try:
        item = storage.get(item_id)
    except Exception:
        return True
    return not item or item.is_expired


def test_collect_removes_an_item(make_storage: Callable[[], ICacheStorage]) -> None:
    storage = make_storage()
    if not isinstance(storage, ICollectableCacheStorage):
        return  # storages without collect are invalidated with tombstones: the next test
    storage.set(CacheItem("a", b"body", 60))
    storage.set(CacheItem("b", b"body", 60))

    storage.collect(CacheItem.empty("a"))

    assert reads_as_absent(storage, "a")
    assert storage.get("b").body == b"body"


def test_a_tombstone_written_with_set_reads_as_absent(make_storage: Callable[[], ICacheStorage]) -> None:
    storage = make_storage()
    storage.set(CacheItem("a", b"body", 60))

    storage.set(CacheItem.empty("a"))

    assert reads_as_absent(storage, "a")


def test_middleware_caches_and_invalidates_on_the_storage(make_storage: Callable[[], ICacheStorage]) -> None:
    harness = Harness(make_storage())
    version = {"n": 1}

    @harness.app.get("/thing", cache_expiry=60)
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(f"v{version['n']}")

    @harness.app.put("/thing", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        version["n"] += 1
        return HttpResponse("")

    assert [harness.client.get("/thing").text for _ in range(2)] == ["v1", "v1"]
    harness.client.put("/thing")
    assert [harness.client.get("/thing").text for _ in range(2)] == ["v2", "v2"]
    assert harness.calls["read"] == 2
