"""HTTP response cache and conditional-request middleware for chocs.

The 1.0 public surface, unchanged: ``CacheMiddleware``, ``CacheItem``, ``ICacheStorage``,
``ICollectableCacheStorage``, ``InMemoryCacheStorage``, ``CollectableInMemoryCacheStorage``
and ``CacheError``; the optional storage capabilities; ``TieredCacheStorage``; and
``RedisCacheStorage``, imported only when asked for (it needs the ``redis`` extra, and the core
depends on chocs alone).
"""

from typing import TYPE_CHECKING, Any

from .adapters.chocs.middleware import CacheMiddleware
from .error import CacheError, NotAcknowledged, WriteRefused
from .storages.memory import CollectableInMemoryCacheStorage, InMemoryCacheStorage
from .storages.protocol import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ICompareAndSetCacheStorage,
    IGroupCacheStorage,
    ILockableCacheStorage,
    ILookupCacheStorage,
    IMarkingCacheStorage,
    IMultiGetCacheStorage,
    IPublishingCacheStorage,
    LookedUp,
)
from .storages.tiered import TieredCacheStorage

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
    "ILookupCacheStorage",
    "IMarkingCacheStorage",
    "IMultiGetCacheStorage",
    "IPublishingCacheStorage",
    "InMemoryCacheStorage",
    "LookedUp",
    "NotAcknowledged",
    "TieredCacheStorage",
    "WriteRefused",
]

if TYPE_CHECKING:
    from .storages.redis import RedisCacheStorage as RedisCacheStorage


def __getattr__(name: str) -> Any:
    if name == "RedisCacheStorage":
        from .storages.redis import RedisCacheStorage

        return RedisCacheStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
