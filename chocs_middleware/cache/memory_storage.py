"""``chocs_middleware.cache.memory_storage``, 1.0's import path of the in-memory storages, which live
in ``storages/memory.py``."""

from .storages.memory import CollectableInMemoryCacheStorage, InMemoryCacheStorage

__all__ = ["CollectableInMemoryCacheStorage", "InMemoryCacheStorage"]
