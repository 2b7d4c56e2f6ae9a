"""What operators ask of a cache, whatever the web framework: its counters, purges and what they
would remove, and what is stored (docs/invalidation.md, docs/inspecting.md).

A framework's middleware inherits ``CacheOperations`` (``adapters/chocs/middleware.py``) and
calls ``_operate_on`` once it has made its ``Cache``: a second framework's adapter gets the same
API, written once.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ..decisions.options import MiddlewareOptions
from ..flow.cache import Cache
from .inspect import inspect
from .purge import Purger

__all__ = ["CacheOperations"]

_Removed = TypeVar("_Removed", int, "int | None")


class CacheOperations:
    """Counters, purges and inspection of one middleware's cache."""

    _cache: Cache[Any]
    _options: MiddlewareOptions
    _purger: Purger

    def _operate_on(self, cache: Cache[Any], options: MiddlewareOptions) -> None:
        self._cache, self._options = cache, options
        flights = cache.flights
        self._purger = Purger(cache.guard, options.canonical_host, flights.supersede, options.soft_purge_window)

    @property
    def storage_faults(self) -> int:
        """How many storage operations have failed (each was logged or counted, and served around)."""
        return self._cache.faults.count

    @property
    def refreshing(self) -> int:
        """Background refreshes scheduled or running (stale-while-revalidate)."""
        return self._cache.refreshing

    def stats(self) -> dict[str, Any]:
        """This process's counters since the middleware was made (docs/deployment.md, "Metrics").

        ``responses`` by outcome (``hit``: answered from storage, ``stale``: a stale response
        served from storage, and each ``Cache-Status`` ``fwd`` reason: ``uri-miss``,
        ``vary-miss``, ``stale``, ``request``, ``method``, ``bypass``); ``collapsed`` (given
        another request's answer); ``revalidated`` (refreshed by the handler's 304);
        ``answered_from_storage`` (304, 412, 206 and 416 by status); ``stored`` and ``not_stored``
        by reason; ``invalidations`` (``paths``, ``groups``, ``failed``); ``purges``; and
        ``storage``: faults, seconds the cache rested from it, and the storage's own figures
        where it has ``stats()`` (the in-memory storage: items, responses, bytes, evictions).
        """
        return self._cache.stats()

    # -- purge (docs/invalidation.md) ------------------------------------------------------------

    def purge(self, url: str, *, soft: bool = False) -> int:
        """Remove every stored response of a path, whatever its query string, variant and
        credentials: ``"/users/1"`` on every host, ``"https://api.example.com/users/1"`` on that
        host. A response to it computed before now is not stored after it. Returns how many stored
        responses were removed; a storage fault is raised, and ``NotAcknowledged`` when some
        process with an in-process tier did not say it dropped its copies. A route template
        (``"/users/{user_id}"``) removes every path of the route, on every host, with
        ``CacheMiddleware(purge_patterns=True)``. ``soft=True``: make them stale instead of removing
        them: served stale within their windows while one refresh runs (docs/invalidation.md)."""
        if "{" in str(url):
            self._need_patterns(f"purge({url!r})")
            return self._purged("template", self._purger.purge(url, soft), soft)
        return self._purged("url", self._purger.purge(url, soft), soft)

    def purge_prefix(self, prefix: str, *, soft: bool = False) -> int:
        """Remove every stored response of the paths under ``prefix`` (``"/reports/"``), on every
        host, with ``CacheMiddleware(purge_patterns=True)`` (docs/invalidation.md). Returns how
        many were removed (or made stale, ``soft``); raises as ``purge`` does."""
        self._need_patterns(f"purge_prefix({prefix!r})")
        return self._purged("prefix", self._purger.purge_prefix(prefix, soft), soft)

    def would_purge(self, url: str) -> int:
        """How many stored responses ``purge(url)`` would remove now; nothing is removed."""
        if "{" in str(url):
            self._need_patterns(f"would_purge({url!r})")
        return self._purger.would_purge(url)

    def would_purge_prefix(self, prefix: str) -> int:
        """How many stored responses ``purge_prefix(prefix)`` would remove now; nothing is removed."""
        self._need_patterns(f"would_purge_prefix({prefix!r})")
        return self._purger.would_purge_prefix(prefix)

    def would_purge_groups(self, *groups: str, host: str | None = None) -> int:
        """How many stored responses ``purge_groups(*groups, host=host)`` would remove now."""
        return self._purger.would_purge_groups(groups, host)

    # -- inspect (docs/invalidation.md, "Inspecting the cache") ----------------------------------

    def inspect(self, url: str, host: str | None = None) -> list[dict[str, Any]]:
        """One record per stored response of the URL's path, every query string and variant: on
        ``host`` (or the URL's), else on every host with stored responses. Each says the host,
        the variant's id, the status, whether it is shared or kept for one user, its age and
        ``ttl`` (negative once stale), its stale windows, entity tag, type and size in storage.
        Nothing is changed; a storage fault is raised."""
        return inspect(self._cache.guard, self._purger, url, host)

    def _need_patterns(self, what: str) -> None:
        if not self._options.purge_patterns:
            raise ValueError(
                f"{what} needs CacheMiddleware(purge_patterns=True): only then is each stored response listed "
                f"under its route's template and its path's prefixes"
            )

    def purge_groups(self, *groups: str, host: str | None = None, soft: bool = False) -> int:
        """Remove the stored responses in cache ``groups`` (RFC 9875) of ``host``, or of every host.
        Returns how many were removed (or made stale, ``soft``); raises as ``purge`` does."""
        return self._purged("groups", self._purger.purge_groups(groups, host, soft), soft)

    def purge_all(self) -> int | None:
        """Remove every response this cache stored, on every host (with the built-in storages).
        Returns how many were removed, or ``None`` where the storage does not count them (Redis
        starts a new epoch in one step, whatever it holds); raises as ``purge`` does."""
        return self._purged("all", self._purger.purge_all())

    def _purged(self, kind: str, removed: _Removed, soft: bool = False) -> _Removed:
        metrics = self._cache.metrics
        metrics.add("purges", f"soft_{kind}" if soft else kind)
        if removed is not None:
            metrics.add("purges", "responses_made_stale" if soft else "responses_removed", removed)
        return removed
