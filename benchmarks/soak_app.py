"""What ``make soak`` serves with gunicorn: items read from a "database" (a file), cached in Redis
behind each worker's in-process tier, in the group ``items``.

``REDIS_URL`` is the cache; ``SOAK_VERSION_FILE`` holds the data's version, which the soak's
purger raises before each purge.
"""

from __future__ import annotations

import os
from pathlib import Path

from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler

from chocs_middleware.cache import CacheMiddleware, RedisCacheStorage, TieredCacheStorage

VERSION_FILE = Path(os.environ["SOAK_VERSION_FILE"])
storage = TieredCacheStorage(RedisCacheStorage.from_url(os.environ["REDIS_URL"], prefix="soak:"))
app = Application(CacheMiddleware(storage))


@app.get("/items/{item_id}", cache_expiry=600, cache_groups=("items",))
def item(request: HttpRequest) -> HttpResponse:
    version = VERSION_FILE.read_text().strip()  # the data, read before the answer is made
    return HttpResponse(f"item {request.path_parameters['item_id']} v{version}", headers={"content-type": "text/plain"})


application = create_wsgi_handler(app)
