"""``CacheMiddleware``: the cache, as chocs middleware.

A shell: it checks its options, finds what the cache does for a request's route, builds the
request's ``RequestTarget``, and hands the request to the framework-free flow (``flow/``), which
answers through the chocs port (``port.py``). ``attach`` and ``explain`` are here too; the
purges, ``inspect`` and ``stats`` are the framework-free ``operations.operator.CacheOperations``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from chocs import Application, HttpMethod, HttpRequest, HttpResponse, HttpStatus, Route
from chocs.middleware import Middleware, MiddlewareHandler

from ...decisions.options import DEFAULT_OPTIONS, MiddlewareOptions, check_storage_instance
from ...entries.target import RequestTarget
from ...flow.cache import Cache
from ...flow.routes import CachedRoute, WriteRoute
from ...operations.operator import CacheOperations
from ...storages.protocol import ICacheStorage
from .app import (
    add_head_route,
    answer_head_with,
    match_get_route,
    registered_routes,
    served_by_several_processes,
    use_middleware,
)
from .explaining import explain_url
from .port import CHOCS
from .purge_route import add_purge_route

__all__ = ["CacheMiddleware"]

logger = logging.getLogger("chocs_middleware.cache")
GET, HEAD = HttpMethod.GET, HttpMethod.HEAD  # a module global is 0.07 µs cheaper than enum access
_UNKNOWN: Any = object()
"""A route the middleware has not seen yet (``None`` means: seen, and not cached)."""


class CacheMiddleware(Middleware, CacheOperations):
    """HTTP response cache and conditional-request middleware for chocs.

    ``cache_vary``, ``safe_methods`` and ``successful_responses`` are 1.0's options and may be given
    by position; every other option by name. Each is declared, with its default and what it does,
    in ``MiddlewareOptions`` (``decisions/options.py``; the README lists them). Routes opt in with
    keywords (``cache_expiry``, ``cache_vary``, ``cache_control``, ``cache``, ...; README, "Route
    keywords"); every route with an unsafe method invalidates its path when it succeeds. The
    operators' API (``stats``, the purges, ``inspect``) is ``CacheOperations``'.
    """

    def __init__(
        self,
        cache_storage: ICacheStorage,
        cache_vary: Iterable[str] | str = DEFAULT_OPTIONS.cache_vary,
        safe_methods: Iterable[HttpMethod | str] = DEFAULT_OPTIONS.safe_methods,
        successful_responses: Iterable[HttpStatus | int] = DEFAULT_OPTIONS.successful_responses,
        **options: Any,
    ) -> None:
        check_storage_instance(cache_storage, isinstance(cache_storage, ICacheStorage))
        self._options = MiddlewareOptions.checked(
            cache_vary=cache_vary, safe_methods=safe_methods, successful_responses=successful_responses, **options
        )
        self._cache: Cache[HttpResponse] = Cache(cache_storage, self._options, CHOCS)
        self._canonical_host = self._options.canonical_host
        self._read, self._write = self._cache.reads.read, self._cache.writes.write  # looked up once, not per request
        self._operate_on(self._cache, self._options)
        self._routes: dict[tuple[int, str], CachedRoute | WriteRoute | None] = {}
        self._app: Application | None = None
        """The app ``attach`` was given: a ``HEAD`` to a cached ``GET`` route registered later is routed here."""
        self._looked_at_server = False

    def handle(self, request: HttpRequest, next: MiddlewareHandler) -> HttpResponse:
        chocs_route = request.route
        if chocs_route is None:
            if request.method is HEAD and self._app is not None and self._route_late_head(request):
                return self.handle(request, next)  # a cached GET route registered after attach
            return next(request)  # pass: no route, chocs answers 404
        # HttpMethod hashes through Python-level Enum.__hash__ (~0.1 µs on every request); its
        # members are singletons, so their identity is as good a key.
        route = self._routes.get((id(request.method), chocs_route.route), _UNKNOWN)
        if route is _UNKNOWN:
            route = self._first_request(request.method, chocs_route)
        if route is None:
            return next(request)  # pass: not a cached route, or a method the cache leaves alone
        target = RequestTarget(  # what the cache reads of the request, as chocs keeps it
            request._headers._headers,
            request.path,
            request.query_string._str,  # what str() returns, without the call
            chocs_route.route,
            request.path_parameters,
            bool(request._body.getvalue()),
            self._canonical_host,
            route.keying,
        )
        if route.writes:
            return self._write(request, next, route, target)
        return self._read(request, next, route, target)

    def explain(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """What a ``GET`` of ``url`` with ``headers`` would get now, without running the handler:
        ``{"outcome": "hit" | "stale-while-revalidate" | "validate" | "miss" | "pass", ...}``,
        with why, and the stored response's figures when one would be used. Needs ``attach(app)``."""
        if self._app is None:
            raise RuntimeError("explain needs the app: call cache.attach(app) first")
        return explain_url(self._app, url, headers or {}, self._get_route, self._canonical_host, self._options.clock)

    def _get_route(self, route: Route) -> CachedRoute | WriteRoute | None:
        """What the cache does for ``GET`` on ``route`` (built now if it was not yet)."""
        known = self._routes.get((id(GET), route.route), _UNKNOWN)
        return self._first_request(GET, route) if known is _UNKNOWN else known

    def add_purge_route(self, app: Application, path: str = "/_cache/purge", *, token: str | bytes | None) -> None:
        """Register ``POST path`` on ``app``: purges over HTTP, for a deploy hook or a webhook
        (docs/invalidation.md, "A purge endpoint"). ``token``: the bearer token requests must
        carry (16 bytes or more), or ``None`` when the app's own middleware guards the route."""
        add_purge_route(app, path, self, token)

    # -- routes ----------------------------------------------------------------------------------

    def _first_request(self, method: HttpMethod, route: Route) -> CachedRoute | WriteRoute | None:
        """The route's treatment, built and checked on its first request, then remembered."""
        try:
            return self._prepare(method, route)
        except (TypeError, ValueError) as error:
            self._cache.routes.failed(method.value, route.route, error)
            raise

    def _prepare(self, method: HttpMethod, route: Route) -> CachedRoute | WriteRoute | None:
        prepared = self._cache.routes.prepare(method.value, route.route, route.attributes)
        self._routes[(id(method), route.route)] = prepared
        if prepared is not None and not self._looked_at_server:
            self._looked_at_server = True
            self._say_if_processes_do_not_share()
        return prepared

    def attach(self, app: Application) -> Application:
        """Check every route's cache keywords now, and answer ``HEAD`` from storage on every cached
        ``GET`` route. Call it once the routes are registered (at start-up).

        A mistake on any route raises here (all of them in one error), instead of on that route's
        first request. Each cached ``GET`` route without a ``HEAD`` route of its own gets one
        (chocs routes a ``HEAD`` only to a route registered for it): answered from the ``GET``
        entry when it is stored, else by the ``GET`` handler without its body; a cached ``GET``
        route registered later is found on its first ``HEAD``. The middleware is added to ``app``
        if it is not there yet. Returns ``app``.
        """
        routes = registered_routes(app)
        self._app = app
        if not routes:
            logger.warning(
                "CacheMiddleware.attach(app) found no routes: call it once they are registered. Routes registered "
                "later are checked on their first request, and HEAD is answered for their cached GET all the same"
            )
        mistakes: list[Exception] = []
        for method, route, _ in routes:
            try:
                self._prepare(method, route)
            except (TypeError, ValueError) as error:
                mistakes.append(error)
        if len(mistakes) == 1:
            raise mistakes[0]
        if mistakes:
            listed = "\n".join(f"- {mistake}" for mistake in mistakes)
            raise ValueError(f"{len(mistakes)} mistakes in cache keywords:\n{listed}")
        with_head = {route.route for method, route, _ in routes if method is HEAD}
        for method, route, handler in routes:
            if method is GET and route.route not in with_head and self._routes.get((id(GET), route.route)):
                add_head_route(app, route, handler)
                self._prepare(HEAD, route)
        use_middleware(app, self)
        return app

    def _route_late_head(self, request: HttpRequest) -> bool:
        """Route a ``HEAD`` chocs could not route to the cached ``GET`` route of its path, if there is
        one (registered after ``attach``, which routes the others); whether it did."""
        assert self._app is not None
        matched = match_get_route(self._app, request)
        if matched is None:
            return False
        route, handler = matched
        cached = self._routes.get((id(GET), route.route), _UNKNOWN)
        if cached is _UNKNOWN:
            cached = self._first_request(GET, route)
        if cached is None:
            return False
        answer_head_with(request, route, handler)
        return True

    def _say_if_processes_do_not_share(self) -> None:
        """One WARNING when a storage that only this process sees serves a WSGI server that runs
        several processes: a write through one worker leaves the others' copies as they were."""
        guard = self._cache.guard
        if guard.process_local and served_by_several_processes():
            logger.warning(
                "cache storage %s is this process's own, but the WSGI server runs several processes "
                "(wsgi.multiprocess): a write through one leaves the others serving the old version. Use "
                "RedisCacheStorage (or TieredCacheStorage(RedisCacheStorage(...))) to share one cache; "
                "docs/deployment.md",
                type(guard.storage).__name__,
            )
