"""An app for the multi-process tests: one process of several that share one Redis.

``python -m tests.redis_app`` serves it through waitress on ``PORT``. Handler runs and the
article's version are counted in Redis too, so that the tests can see every process at once.
With ``TIER`` set, the storage keeps a copy in the process (``TieredCacheStorage``); with
``DATA_URL``, the "database" is another Redis than the cache's.
"""

from __future__ import annotations

import os
import time

import redis
import waitress
from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler

from chocs_middleware.cache import CacheMiddleware, RedisCacheStorage, TieredCacheStorage

REDIS_URL = os.environ["REDIS_URL"]
PREFIX = os.environ["PREFIX"]
DELAY = float(os.environ.get("DELAY", "0"))

far = RedisCacheStorage.from_url(REDIS_URL, prefix=PREFIX)
storage = TieredCacheStorage(far) if os.environ.get("TIER") else far
shared = redis.Redis.from_url(os.environ.get("DATA_URL", REDIS_URL))  # stands in for the app's database
app = Application(CacheMiddleware(storage))


@app.get("/articles/{id}", cache_expiry=600, cache_groups=("articles",))
def read(request: HttpRequest) -> HttpResponse:
    article = request.path_parameters["id"]
    shared.incr(f"{PREFIX}runs:{article}")
    version = 1 + int(shared.get(f"{PREFIX}version:{article}") or 0)  # 1, plus one per update
    time.sleep(DELAY)  # the answer leaves a while after the data was read
    return HttpResponse(f"article {article} v{version} from process {os.getpid()}")


@app.patch("/articles/{id}", cache=True)
def update(request: HttpRequest) -> HttpResponse:
    shared.incr(f"{PREFIX}version:{request.path_parameters['id']}")
    return HttpResponse("", 204)


@app.post("/articles", cache_invalidates=("articles",))
def create(request: HttpRequest) -> HttpResponse:
    return HttpResponse("", 201)


if __name__ == "__main__":
    waitress.serve(create_wsgi_handler(app), host="127.0.0.1", port=int(os.environ["PORT"]), threads=32, _quiet=True)
