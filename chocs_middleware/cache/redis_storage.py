"""``chocs_middleware.cache.redis_storage``, a documented import path: ``RedisCacheStorage`` lives in
``storages/redis/`` (docs/storages.md)."""

from .storages.redis import DEFAULT_TIMEOUT, EVERYTHING_CHANGED, RedisCacheStorage

__all__ = ["DEFAULT_TIMEOUT", "EVERYTHING_CHANGED", "RedisCacheStorage"]
