"""HTTP response cache and conditional-request middleware for chocs.

The 1.0 public surface, unchanged: ``CacheMiddleware``, ``CacheItem``, ``ICacheStorage``,
``ICollectableCacheStorage``, ``InMemoryCacheStorage``, ``CollectableInMemoryCacheStorage``
and ``CacheError``.
"""

from .cache_storage import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ILockableCacheStorage,
    IMultiGetCacheStorage,
)
from .error import CacheError
from .memory_storage import CollectableInMemoryCacheStorage, InMemoryCacheStorage
from .middleware import CacheMiddleware

__all__ = [
    "CacheError",
    "CacheItem",
    "CacheMiddleware",
    "CollectableInMemoryCacheStorage",
    "ICacheStorage",
    "ICollectableCacheStorage",
    "ILockableCacheStorage",
    "IMultiGetCacheStorage",
    "InMemoryCacheStorage",
]
