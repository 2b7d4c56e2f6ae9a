"""``chocs_middleware.cache.prometheus``, a documented import path: the Prometheus export of
``CacheMiddleware.stats()`` lives in ``operations/prometheus.py`` (docs/deployment.md)."""

from .operations.prometheus import PrometheusExporter

__all__ = ["PrometheusExporter"]
