"""What ``make bench`` serves with gunicorn: a bare chocs app, and the same route cached three ways.

``/bare`` and ``/slow`` (a 1 ms handler) go to an app without the cache; ``/cached`` to one with
``RedisCacheStorage`` on ``REDIS_URL`` (every worker process shares that one cache); ``/tiered``
to one with the same Redis behind each worker's in-process tier; ``/memory`` to one with each
worker's own in-memory storage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any, Callable

from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler

from benchmarks.payload import BODY
from chocs_middleware.cache import CacheMiddleware, InMemoryCacheStorage, RedisCacheStorage, TieredCacheStorage

bare = Application()
cached = Application(CacheMiddleware(RedisCacheStorage.from_url(os.environ["REDIS_URL"], prefix="bench:")))
tiered = Application(
    CacheMiddleware(TieredCacheStorage(RedisCacheStorage.from_url(os.environ["REDIS_URL"], prefix="bench-tier:")))
)
memory = Application(CacheMiddleware(InMemoryCacheStorage()))


def _json(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})


def _slow(request: HttpRequest) -> HttpResponse:
    time.sleep(0.001)
    return _json(request)


bare.get("/bare")(_json)
bare.get("/slow")(_slow)
cached.get("/cached", cache_expiry=3600)(_json)
tiered.get("/tiered", cache_expiry=3600)(_json)
memory.get("/memory", cache_expiry=3600)(_json)

_handlers = {
    "/cached": create_wsgi_handler(cached),
    "/tiered": create_wsgi_handler(tiered),
    "/memory": create_wsgi_handler(memory),
}
_bare_wsgi = create_wsgi_handler(bare)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    handler = _handlers.get(environ.get("PATH_INFO", ""), _bare_wsgi)
    return handler(environ, start_response)
