"""The chocs-middleware.cache 1.0 README's examples, as written, through the real WSGI path.

Two lines of that README are now refused on purpose, with a message that says what to write:
``cache_vary=set("accept-language")`` (a set of characters) and ``CacheMiddleware(CacheStorage)``
(a class, not an instance).
"""

from __future__ import annotations

import chocs
import pytest
from chocs import Application, HttpRequest, HttpResponse
from webtest import TestApp

from chocs_middleware.cache import (
    CacheItem,
    CacheMiddleware,
    ICacheStorage,
    ICollectableCacheStorage,
    InMemoryCacheStorage,
)


def client(app: Application) -> TestApp:
    return TestApp(chocs.create_wsgi_handler(app), lint=False)


def test_simple_cache_with_a_custom_storage() -> None:
    calls = []

    class MemoryCache(ICacheStorage):
        def __init__(self):  # type: ignore[no-untyped-def]
            self._cache = {}

        def get(self, cache_id: str) -> CacheItem:
            return self._cache[cache_id]  # type: ignore[no-any-return]

        def set(self, item: CacheItem) -> None:
            self._cache[item.id] = item

    app = chocs.Application(CacheMiddleware(MemoryCache()))  # type: ignore[no-untyped-call]

    @app.get("/users/{user_id}", cache_expiry=10)
    def get_user(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return HttpResponse("Bob Bobber", 200)

    responses = [client(app).get("/users/1") for _ in range(3)]

    assert [response.text for response in responses] == ["Bob Bobber"] * 3
    assert responses[0].headers["Cache-Control"] == "max-age=10"
    assert len(calls) == 1


def test_etag_based_cache() -> None:
    app = chocs.Application(CacheMiddleware(InMemoryCacheStorage()))

    @app.get("/users/{user_id}", cache_expiry=10)
    def get_user(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            "Bob Bobber",
            headers={
                "etag": '"etag-1"',  # your custom etag value
            },
        )

    web = client(app)
    first = web.get("/users/1")
    second = web.get("/users/1")

    assert first.headers["ETag"] == second.headers["ETag"] == '"etag-1"'
    assert second.headers["Cache-Status"].startswith("chocs-cache; hit")


def test_cache_vary_set_of_characters_is_now_refused_with_the_right_spelling() -> None:
    with pytest.raises(ValueError, match=r'cache_vary=\("accept-language",\)'):
        CacheMiddleware(InMemoryCacheStorage(), cache_vary=set("accept-language"))


def test_cache_vary_per_endpoint() -> None:
    app = chocs.Application(CacheMiddleware(InMemoryCacheStorage(), cache_vary=("accept-language",)))

    @app.get("/users/{user_id}", cache_expiry=10, cache_vary=("accept-language", "x-custom-header"))
    def get_user(request: HttpRequest) -> HttpResponse:
        return HttpResponse("Bob Bobber")

    response = client(app).get("/users/1", headers={"X-Custom-Header": "a"})

    assert response.headers["Vary"] == "accept-language, x-custom-header"


def test_cache_control_private() -> None:
    app = chocs.Application(CacheMiddleware(InMemoryCacheStorage()))

    @app.get("/users/{user_id}", cache_expiry=10, cache_control="private")
    def get_user(request: HttpRequest) -> HttpResponse:
        return HttpResponse("Bob Bobber")

    assert client(app).get("/users/1").headers["Cache-Control"] == "private, max-age=10"


class CacheStorage(ICollectableCacheStorage):
    def __init__(self):  # type: ignore[no-untyped-def]
        self._storage = {}

    def set(self, item: CacheItem) -> None:
        self._storage[item.id] = item

    def get(self, item_id: str) -> CacheItem:
        return self._storage[item_id]  # type: ignore[no-any-return]

    def collect(self, item: CacheItem) -> None:
        del self._storage[item.id]


def test_revalidation_example_passing_the_class_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"got the class CacheStorage; write CacheMiddleware\(CacheStorage\(\)\)"):
        Application(CacheMiddleware(CacheStorage))  # type: ignore[arg-type]


def test_revalidation_example_with_an_instance() -> None:
    storage = CacheStorage()  # type: ignore[no-untyped-call]
    app = Application(CacheMiddleware(storage))
    reads: list[int] = []

    @app.get("/users/{user_id}", cache_expiry=10)
    def get_test(req: HttpRequest) -> HttpResponse:
        reads.append(1)
        user_id = req.path_parameters.get("user_id")
        return HttpResponse(f"user {user_id}", headers={"etag": f"{user_id}"})

    @app.patch("/users/{user_id}", cache=True)  # type: ignore[no-redef]
    def get_test(req: HttpRequest) -> HttpResponse:  # noqa: F811
        return HttpResponse("{user data}")

    web = client(app)
    web.get("/users/1")
    web.get("/users/1")
    web.patch("/users/1", "{}")
    after = web.get("/users/1")

    assert after.text == "user 1"
    assert len(reads) == 2
    assert after.headers["ETag"] == "1"
