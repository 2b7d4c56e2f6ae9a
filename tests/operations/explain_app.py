"""An app whose CacheMiddleware the shell's ``explain`` loads (``tests/operations/test_purge_command.py``):
its storage is the Redis in ``REDIS_URL`` under ``PREFIX``, as the test's own app's."""

from __future__ import annotations

import os

from chocs import Application, HttpRequest, HttpResponse

from chocs_middleware.cache import CacheMiddleware, RedisCacheStorage

cache = CacheMiddleware(RedisCacheStorage.from_url(os.environ["REDIS_URL"], prefix=os.environ["PREFIX"]))
app = Application(cache)


@app.get("/items/{id}", cache_expiry=600, cache_groups=("items", "item:{id}"))
def item(request: HttpRequest) -> HttpResponse:
    return HttpResponse("item")


cache.attach(app)
