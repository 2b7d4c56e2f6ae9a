"""``chocs_middleware.cache.cache_storage``, 1.0's import path of the storage protocol, which lives in
``storages/protocol.py``."""

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
    Subscription,
)

__all__ = [
    "CacheItem",
    "ICacheStorage",
    "ICollectableCacheStorage",
    "ICompareAndSetCacheStorage",
    "IGroupCacheStorage",
    "ILockableCacheStorage",
    "ILookupCacheStorage",
    "IMarkingCacheStorage",
    "IMultiGetCacheStorage",
    "IPublishingCacheStorage",
    "LookedUp",
    "Subscription",
]
