"""The demo API: articles, cached per language, invalidated by PATCH (with the list, through a
cache group), protected from lost updates; and a dashboard keyed on the cookie its handler reads.

Run it with ``make demo`` (waitress on http://127.0.0.1:8000, in-memory storage).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from chocs import Application, HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage

storage = CollectableInMemoryCacheStorage(max_items=10_000, max_bytes=64 * 1024 * 1024)
cache = CacheMiddleware(storage)
app = Application(cache)

_articles: dict[str, dict[str, Any]] = {"1": {"id": "1", "title": "Caching with chocs", "version": 1}}
_lock = threading.Lock()
_GREETINGS = {"de": "Hallo", "pl": "Cześć"}


def _json(data: object, status: HttpStatus = HttpStatus.OK, etag: str | None = None) -> HttpResponse:
    headers: dict[str, str | Sequence[str]] = {"content-type": "application/json"}
    if etag is not None:
        headers["etag"] = etag
    return HttpResponse(json.dumps(data), status, headers=headers)


def _etag(article: dict[str, Any]) -> str:
    """A version number makes a good entity tag: the same in every process, and cheap to check."""
    return f'"article-{article["id"]}-v{article["version"]}"'


@app.get("/articles", cache_expiry=60, cache_groups=("articles",))
def list_articles(request: HttpRequest) -> HttpResponse:
    with _lock:
        titles = [{"id": article["id"], "title": article["title"]} for article in _articles.values()]
    return _json(titles)


@app.get("/articles/{article_id}", cache_expiry=60, cache_vary=("accept-language",))
def read_article(request: HttpRequest) -> HttpResponse:
    time.sleep(0.2)  # stands in for a slow database query: a miss takes 200 ms, a hit does not
    with _lock:
        article = dict(_articles.get(str(request.path_parameters["article_id"]), {}))
    if not article:
        return _json({"error": "no such article"}, HttpStatus.NOT_FOUND)
    language = str(request.headers.get("accept-language", "en"))[:2]
    article["greeting"] = _GREETINGS.get(language, "Hello")
    return _json(article, etag=_etag(article))


@app.patch("/articles/{article_id}", cache_invalidates=("articles",))  # and its own path, as every write
def update_article(request: HttpRequest) -> HttpResponse:
    changes = json.loads(str(request) or "{}")
    with _lock:
        article = _articles.get(str(request.path_parameters["article_id"]))
        if article is None:
            return _json({"error": "no such article"}, HttpStatus.NOT_FOUND)
        expected = request.headers.get("if-match")
        if expected and expected != _etag(article):  # the handler stays the authority on its own data
            return _json({"error": "the article changed meanwhile"}, HttpStatus.PRECONDITION_FAILED)
        article["title"] = str(changes.get("title", article["title"]))
        article["version"] = int(article["version"]) + 1
        return _json(article, etag=_etag(article))


@app.get("/dashboard", cache_expiry=60)
def dashboard(request: HttpRequest) -> HttpResponse:
    """Nothing declared: the cache keys the page on the ``session`` cookie because the handler reads
    it, and on no query parameter, because it reads none (docs/caching.md, "Observed keys")."""
    session = request.cookies["session"].value if "session" in request.cookies else "anonymous"
    return _json({"dashboard of": session})


cache.attach(app)  # every route's keywords checked now, and HEAD answered from the GET entries
