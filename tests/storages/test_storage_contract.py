"""Every storage passes one contract: ``chocs_middleware.cache.testing.StorageContract``.

The built-in storages, storages written the way the 1.0 README wrote them, and Redis (against
a real redis-server) each get a subclass; so would a user's storage.
"""

from __future__ import annotations

import uuid

import pytest

from chocs_middleware.cache import (
    CacheItem,
    CollectableInMemoryCacheStorage,
    ICacheStorage,
    InMemoryCacheStorage,
    RedisCacheStorage,
)
from chocs_middleware.cache.testing import StorageContract
from support.redis_server import RedisServer
from tests.user_storages import CollectableDictStorage, DictStorage, LockingDictStorage


class TestInMemoryCacheStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return InMemoryCacheStorage()


class TestCollectableInMemoryCacheStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return CollectableInMemoryCacheStorage()


class TestUserDictStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return DictStorage()


class TestUserCollectableDictStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return CollectableDictStorage()


class TestUserLockingDictStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return LockingDictStorage()


class TestRedisCacheStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer, request: pytest.FixtureRequest) -> None:
        self.url = redis_server.url
        self.request = request

    def make_storage(self) -> ICacheStorage:
        storage = RedisCacheStorage.from_url(self.url, prefix=f"contract-{uuid.uuid4().hex}:")
        self.request.addfinalizer(storage.close)
        return storage


class MissRaisesLookupError:
    """Raises something other than the protocol's miss: the middleware would take every miss for a fault."""

    def get(self, item_id: str) -> CacheItem:
        raise LookupError(item_id)

    def set(self, item: CacheItem) -> None:
        pass


class CheckedStorage(StorageContract):
    def make_storage(self) -> ICacheStorage:
        return MissRaisesLookupError()


def test_the_contract_fails_a_storage_whose_miss_raises_another_exception_naming_it() -> None:
    with pytest.raises(AssertionError, match=r"MissRaisesLookupError\.get raised LookupError"):
        CheckedStorage().test_a_miss_raises_cache_error_or_key_error()


def test_the_contract_fails_an_object_that_is_not_a_storage() -> None:
    class NotAStorage(StorageContract):
        def make_storage(self) -> ICacheStorage:
            return object()  # type: ignore[return-value]

    with pytest.raises(AssertionError, match="object is not a storage"):
        NotAStorage().test_get_returns_what_set_stored()
