"""The chocs adapter: ``CacheMiddleware``, and the port the flow answers chocs requests through."""

from .middleware import CacheMiddleware

__all__ = ["CacheMiddleware"]
