"""What ``make bench`` serves with gunicorn: a bare chocs app, and the same route cached in Redis.

``/bare`` and ``/slow`` (a 1 ms handler) go to an app without the cache, ``/cached`` to one with
``RedisCacheStorage`` on ``REDIS_URL``: every worker process shares that one cache.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any, Callable

from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler

from benchmarks.payload import BODY
from chocs_middleware.cache import CacheMiddleware, RedisCacheStorage

bare = Application()
cached = Application(CacheMiddleware(RedisCacheStorage.from_url(os.environ["REDIS_URL"], prefix="bench:")))


def _json(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})


def _slow(request: HttpRequest) -> HttpResponse:
    time.sleep(0.001)
    return _json(request)


bare.get("/bare")(_json)
bare.get("/slow")(_slow)
cached.get("/cached", cache_expiry=3600)(_json)

_bare_wsgi, _cached_wsgi = create_wsgi_handler(bare), create_wsgi_handler(cached)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    handler = _cached_wsgi if environ.get("PATH_INFO", "").startswith("/cached") else _bare_wsgi
    return handler(environ, start_response)
