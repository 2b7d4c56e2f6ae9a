"""Storages written the way users write them (the 1.0 README's examples), for the contract tests."""

from __future__ import annotations

import secrets
import threading
import time
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


class LockingDictStorage(CollectableDictStorage):
    """A collectable dict storage with the cross-process lock capability, as a shared storage has it.

    Two middleware instances (two apps) on one of these behave like two processes on one Redis.
    """

    def __init__(self) -> None:
        super().__init__()
        self._locks: dict[str, tuple[str, float]] = {}
        self._guard = threading.Lock()

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        with self._guard:
            held = self._locks.get(name)
            if held is not None and held[1] > time.monotonic():
                return None
            token = secrets.token_hex(8)
            self._locks[name] = (token, time.monotonic() + ttl)
            return token

    def release_lock(self, name: str, token: str) -> None:
        with self._guard:
            held = self._locks.get(name)
            if held is not None and held[0] == token:
                del self._locks[name]


STORAGE_FACTORIES: dict[str, Callable[[], ICacheStorage]] = {
    "in-memory": InMemoryCacheStorage,
    "collectable-in-memory": CollectableInMemoryCacheStorage,
    "user-dict": DictStorage,
    "user-collectable-dict": CollectableDictStorage,
    "user-locking-dict": LockingDictStorage,
}
