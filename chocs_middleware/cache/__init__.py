"""HTTP response cache and conditional-request middleware for chocs.

The 1.0 public surface, unchanged: ``CacheMiddleware``, ``CacheItem``, ``ICacheStorage``,
``ICollectableCacheStorage``, ``InMemoryCacheStorage``, ``CollectableInMemoryCacheStorage``
and ``CacheError``; the optional storage capabilities; and ``RedisCacheStorage``, imported
only when asked for (it needs the ``redis`` extra, and the core depends on chocs alone).
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .redis_storage import RedisCacheStorage as RedisCacheStorage


def __getattr__(name: str) -> Any:
    if name == "RedisCacheStorage":
        from .redis_storage import RedisCacheStorage

        return RedisCacheStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
