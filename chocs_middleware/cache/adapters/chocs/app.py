"""The app's routes, as chocs keeps them: ``CacheMiddleware.attach`` reads them, adds ``HEAD``
routes, and puts the middleware in the app's pipeline; and the WSGI server the app runs behind.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from io import BytesIO
from types import FrameType

from chocs import Application, HttpMethod, HttpRequest, HttpResponse, Route
from chocs.middleware import Middleware

from ...decisions.values import NO_CONTENT_LENGTH

__all__ = [
    "Handler",
    "add_head_route",
    "answer_head_with",
    "match_get_route",
    "registered_routes",
    "served_by_several_processes",
    "use_middleware",
]

Handler = Callable[[HttpRequest], HttpResponse]


def registered_routes(app: Application) -> list[tuple[HttpMethod, Route, Handler]]:
    """Every (method, route, handler) the app registered, in the order chocs matches them.
    chocs keeps them in ``app.router._routes``, a dict of method to (route, handler) pairs."""
    routes: dict[HttpMethod, list[tuple[Route, Handler]]] = app.router._routes
    return [(method, route, handler) for method, pairs in routes.items() for route, handler in pairs]


def add_head_route(app: Application, route: Route, get_handler: Handler) -> None:
    """Route ``HEAD`` on ``route``'s pattern, with its keywords, to ``get_handler``'s answer without
    its body (chocs routes a ``HEAD`` only to a route registered for it)."""
    app.router.append(Route(route.route, dict(route.attributes)), _without_body(get_handler), HttpMethod.HEAD)


def match_get_route(app: Application, request: HttpRequest) -> tuple[Route, Handler] | None:
    """The ``GET`` route (matched, with its parameters) and handler for the request's path, if any."""
    try:
        route, handler = app.router.match(request.path, HttpMethod.GET)
    except Exception:  # chocs raises NotFoundError (and nothing else) when nothing matches
        return None
    return route, handler


def answer_head_with(request: HttpRequest, route: Route, get_handler: Handler) -> None:
    """Route a ``HEAD`` that chocs could not route to ``route``, answered by ``get_handler`` without
    its body, as ``add_head_route`` does for the routes ``attach`` saw (chocs picks the handler
    before the middleware runs, from ``request.attributes["__handler__"]``)."""
    request.route = route
    request.path_parameters = route.parameters
    request.attributes["__handler__"] = _without_body(get_handler)


def _without_body(get_handler: Handler) -> Handler:
    def head(request: HttpRequest) -> HttpResponse:
        response = get_handler(request)
        body = response.body
        length = body.getbuffer().nbytes
        if "content-length" not in response.headers._headers and int(response.status_code) not in NO_CONTENT_LENGTH:
            response.headers.override("content-length", [str(length)])  # what a GET would be sent
        response.body = BytesIO(b"")
        return response

    return head


def served_by_several_processes(depth: int = 64) -> bool:
    """Whether the WSGI server calling this thread runs several processes (``wsgi.multiprocess``).

    chocs keeps no environ on its request, but its WSGI handler holds one in a local named
    ``environ``: the frames above are looked through, once. ``False`` when none is found (AWS
    Lambda, a test calling the app directly).
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        environ = frame.f_locals.get("environ")
        if isinstance(environ, dict) and "wsgi.multiprocess" in environ:
            return bool(environ["wsgi.multiprocess"])
        frame = frame.f_back
    return False


def use_middleware(app: Application, middleware: Middleware) -> None:
    """Put ``middleware`` last in the app's pipeline, unless it is there already. chocs builds the
    pipeline on the first request (``app._cached_middleware``): this must come before it."""
    if middleware not in app._middleware.queue:
        app._middleware.append(middleware)
        app._cached_middleware = None
