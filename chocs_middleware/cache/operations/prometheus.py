"""``CacheMiddleware.stats()`` as Prometheus metrics (the ``prometheus`` extra: ``prometheus_client``).

``PrometheusExporter(middleware)`` keeps a set of ``prometheus_client`` counters and gauges equal
to the middleware's ``stats()``: call ``sync()`` before a scrape (the scrape route does), and it
also syncs every ``interval`` seconds on a daemon thread, so that under gunicorn's multi-process
mode (``PROMETHEUS_MULTIPROC_DIR``) each worker's figures reach the files the scraping worker
reads. docs/deployment.md ("Metrics") shows a scrape route for both cases and the series.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'PrometheusExporter needs prometheus_client: pip install "chocs-middleware.cache[prometheus]"'
    ) from error


class HasStats(Protocol):
    """What is exported: a middleware's ``stats()`` (``CacheMiddleware``)."""

    def stats(self) -> dict[str, Any]: ...


__all__ = ["COUNTED_STORAGE_FIGURES", "PrometheusExporter"]

COUNTED_STORAGE_FIGURES = frozenset(("faults", "rested_seconds", "evictions", "near_hits", "far_reads", "bypassed"))
"""Storage figures that only grow (exported as counters); the others are levels (gauges)."""
_LABELLED = {
    "responses": ("responses", "Responses by outcome (hit, stale, or the Cache-Status fwd reason)", "outcome"),
    "answered_from_storage": ("answered_from_storage", "304, 412, 206 and 416 answered from storage", "status"),
    "not_stored": ("not_stored", "Handler answers not stored, by reason", "reason"),
    "invalidations": ("invalidations", "Paths and groups invalidated by writes, and failures", "kind"),
    "purges": ("purges", "Purges by kind, and the stored responses they removed", "kind"),
}
_SINGLE = {
    "collapsed": "Requests given another request's answer",
    "revalidated": "Stale responses refreshed by the handler's 304",
    "stored": "Handler answers stored",
}


class PrometheusExporter:
    """The middleware's counters as ``chocs_cache_*`` series in ``registry``."""

    def __init__(
        self,
        middleware: HasStats,
        registry: CollectorRegistry = REGISTRY,
        *,
        interval: float | None = 1.0,
        namespace: str = "chocs_cache",
    ) -> None:
        self._middleware = middleware
        self._registry = registry
        self._namespace = namespace
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.sync()
        if interval is not None:
            threading.Thread(target=self._every, args=(interval,), daemon=True, name="chocs-cache-metrics").start()

    def sync(self) -> None:
        """Bring every series up to ``stats()`` now."""
        with self._lock:
            for series, label, value in self._figures(self._middleware.stats()):
                self._set(series, label, value)

    def stop(self) -> None:
        self._stopped.set()

    def _every(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            try:
                self.sync()
            except Exception:  # pragma: no cover - figures are never worth a dead thread
                continue

    def _figures(self, stats: Mapping[str, Any]) -> Iterator[tuple[str, str, float]]:
        for family, (series, _, _) in _LABELLED.items():
            for label, value in stats.get(family, {}).items():
                yield series, label, value
        for family in _SINGLE:
            yield family, "", stats.get(family, 0)
        for name, value in stats.get("storage", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"storage_{name}", "", value

    def _set(self, series: str, label: str, value: float) -> None:
        if series.startswith("storage_") and series[len("storage_") :] not in COUNTED_STORAGE_FIGURES:
            gauge = self._gauges.get(series)
            if gauge is None:
                gauge = self._gauges[series] = Gauge(
                    series,
                    f"The storage's {series[len('storage_') :].replace('_', ' ')}",
                    namespace=self._namespace,
                    registry=self._registry,
                    multiprocess_mode="livesum",
                )
            gauge.set(value)
            return
        counter = self._counter(series)
        grown = value - self._seen.get((series, label), 0.0)
        if grown > 0:
            (counter.labels(label) if series in _LABEL_OF else counter).inc(grown)
            self._seen[(series, label)] = value

    def _counter(self, series: str) -> Counter:
        counter = self._counters.get(series)
        if counter is None:
            labels = (_LABEL_OF[series],) if series in _LABEL_OF else ()
            description = _DESCRIPTIONS.get(series, f"The storage's {series[len('storage_') :].replace('_', ' ')}")
            counter = self._counters[series] = Counter(
                series, description, labels, namespace=self._namespace, registry=self._registry
            )
        return counter


_LABEL_OF = {series: label for series, _, label in _LABELLED.values()}
_DESCRIPTIONS = {**{series: text for series, text, _ in _LABELLED.values()}, **_SINGLE}
