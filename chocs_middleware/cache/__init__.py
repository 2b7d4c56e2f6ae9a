"""HTTP response cache and conditional-request middleware for chocs.

The 1.0 public surface, unchanged: ``CacheMiddleware``, ``CacheItem``, ``ICacheStorage``,
``ICollectableCacheStorage``, ``InMemoryCacheStorage``, ``CollectableInMemoryCacheStorage``
and ``CacheError``; the optional storage capabilities; ``TieredCacheStorage``; and
``RedisCacheStorage``, imported only when asked for (it needs the ``redis`` extra, and the core
depends on chocs alone).
"""

from typing import TYPE_CHECKING, Any

from .cache_storage import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ICompareAndSetCacheStorage,
    IGroupCacheStorage,
    ILockableCacheStorage,
    IMultiGetCacheStorage,
    IPublishingCacheStorage,
)
from .error import CacheError, NotAcknowledged, WriteRefused
from .memory_storage import CollectableInMemoryCacheStorage, InMemoryCacheStorage
from .middleware import CacheMiddleware
from .tiered_storage import TieredCacheStorage

__all__ = [
    "CacheError",
    "CacheItem",
    "CacheMiddleware",
    "CollectableInMemoryCacheStorage",
    "ICacheStorage",
    "ICollectableCacheStorage",
    "ICompareAndSetCacheStorage",
    "IGroupCacheStorage",
    "ILockableCacheStorage",
    "IMultiGetCacheStorage",
    "IPublishingCacheStorage",
    "InMemoryCacheStorage",
    "NotAcknowledged",
    "TieredCacheStorage",
    "WriteRefused",
]

if TYPE_CHECKING:
    from .redis_storage import RedisCacheStorage as RedisCacheStorage


def __getattr__(name: str) -> Any:
    if name == "RedisCacheStorage":
        from .redis_storage import RedisCacheStorage

        return RedisCacheStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
