"""Storages written the way users write them (the 1.0 README's examples), for the contract tests."""

from __future__ import annotations

from collections.abc import Callable

from chocs_middleware.cache import (
    CacheItem,
    CollectableInMemoryCacheStorage,
    ICacheStorage,
    InMemoryCacheStorage,
)


class DictStorage:
    """The 1.0 README's ``MemoryCache``: a dict, ``KeyError`` on a miss, no expiry, no bounds."""

    def __init__(self) -> None:
        self._cache: dict[str, CacheItem] = {}

    def get(self, cache_id: str) -> CacheItem:
        return self._cache[cache_id]

    def set(self, item: CacheItem) -> None:
        self._cache[item.id] = item


class CollectableDictStorage(DictStorage):
    """The 1.0 README's revalidation example: ``collect`` deletes (and raises on a missing id)."""

    def collect(self, item: CacheItem) -> None:
        del self._cache[item.id]


STORAGE_FACTORIES: dict[str, Callable[[], ICacheStorage]] = {
    "in-memory": InMemoryCacheStorage,
    "collectable-in-memory": CollectableInMemoryCacheStorage,
    "user-dict": DictStorage,
    "user-collectable-dict": CollectableDictStorage,
}
