"""An app with the Prometheus exporter, for the tests: one process, or gunicorn workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn's multi-process mode), ``/metrics`` reads every
worker's figures from that directory; otherwise the exporter's own registry.
"""

from __future__ import annotations

import os

from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage
from chocs_middleware.cache.prometheus import PrometheusExporter

cache = CacheMiddleware(CollectableInMemoryCacheStorage())
app = Application(cache)
registry = CollectorRegistry()
exporter = PrometheusExporter(cache, registry, interval=0.1)


@app.get("/items/{id}", cache_expiry=600)
def item(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"item {request.path_parameters['id']}")


@app.get("/metrics")
def metrics(request: HttpRequest) -> HttpResponse:
    exporter.sync()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        scraped = CollectorRegistry()
        multiprocess.MultiProcessCollector(scraped)  # type: ignore[no-untyped-call]
    else:
        scraped = registry
    return HttpResponse(generate_latest(scraped), headers={"content-type": CONTENT_TYPE_LATEST})


application = create_wsgi_handler(app)
