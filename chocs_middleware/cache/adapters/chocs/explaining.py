"""``CacheMiddleware.explain``: a ``GET`` routed as chocs would route it, and looked up as the cache
would, without running the handler (docs/invalidation.md, "Inspecting the cache")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from chocs import Application, HttpMethod, HttpRequest, Route

from ...clock import Clock
from ...entries.target import RequestTarget
from ...flow.routes import CachedRoute, WriteRoute
from ...operations.inspect import explain
from ...operations.purge import split_url
from .app import match_get_route

__all__ = ["explain_url"]


def explain_url(
    app: Application,
    url: str,
    headers: dict[str, str],
    cached: Callable[[Route], CachedRoute | WriteRoute | None],
    canonical_host: Callable[[str], str] | None,
    clock: Clock,
) -> dict[str, Any]:
    """What ``GET url`` with ``headers`` would get from the cache now (``operations.inspect.explain``);
    ``{"outcome": "pass", ...}`` for a path without a route, or a route the cache leaves alone."""
    host, path = split_url(url)
    query = urlsplit(url).query
    request = HttpRequest(HttpMethod.GET, path, query_string=query, headers=dict(headers))
    if host is not None and "host" not in request.headers:
        request.headers.set("host", host)
    matched = match_get_route(app, request)
    route = None if matched is None else cached(matched[0])
    if matched is None or not isinstance(route, CachedRoute):
        return {"outcome": "pass", "reason": "no route" if matched is None else "the route is not cached"}
    chocs_route = matched[0]
    target = RequestTarget(
        request.headers._headers,
        path,
        query,
        chocs_route.route,
        chocs_route.parameters,
        False,
        canonical_host,
        route.keying,
    )
    return explain(route.entries, target, route.learned.lookup(target.has_authorization), clock.time())
