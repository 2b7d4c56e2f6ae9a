"""``chocs_middleware.cache.middleware``, where ``CacheMiddleware`` was: it lives in ``adapters/chocs/``."""

from .adapters.chocs.middleware import CacheMiddleware

__all__ = ["CacheMiddleware"]
