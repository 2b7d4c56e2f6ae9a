"""``CacheMiddleware.attach(app)``: every route checked at start-up, and HEAD answered from storage."""

from __future__ import annotations

import logging
import re

import pytest
from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler
from webtest import TestApp

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage
from tests.conftest import Harness


def test_a_mistake_on_any_route_raises_at_start_up_naming_it() -> None:
    cache = CacheMiddleware(CollectableInMemoryCacheStorage())
    app = Application(cache)

    @app.get("/fine", cache_expiry=60)
    def fine(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    @app.get("/wrong", cache_expiry="ten")
    def wrong(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    with pytest.raises(TypeError, match=re.escape("cache_expiry on route '/wrong' must be a whole number of seconds")):
        cache.attach(app)


def test_every_mistake_is_listed_at_once() -> None:
    cache = CacheMiddleware(CollectableInMemoryCacheStorage())
    app = Application(cache)

    @app.get("/a", cache_ttl=60)
    def a(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    @app.patch("/b", cache_groups=("b",))
    def b(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    with pytest.raises(ValueError) as raised:
        cache.attach(app)

    message = str(raised.value)
    assert message.startswith("2 mistakes in cache keywords:")
    assert "unknown keyword cache_ttl on route '/a'; did you mean cache_expiry?" in message
    assert "cache_groups on route '/b' has no effect" in message


def routes_with_head(harness: Harness, own_head: bool = False) -> None:
    @harness.app.get("/items/{id}", cache_expiry=60)
    def item(request: HttpRequest) -> HttpResponse:
        harness.count("get")
        return HttpResponse('{"id": 1}', headers={"content-type": "application/json", "x-item": "1"})

    if own_head:

        @harness.app.head("/items/{id}", cache_expiry=60)
        def head(request: HttpRequest) -> HttpResponse:
            harness.count("own head")
            return HttpResponse("", headers={"x-own-head": "yes"})

    harness.middleware.attach(harness.app)


def test_head_on_a_cached_get_route_is_answered_from_the_get_entry(harness: Harness) -> None:
    routes_with_head(harness)
    got = harness.client.get("/items/1")

    head = harness.client.head("/items/1")

    assert head.status_int == 200 and head.body == b""
    assert head.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert head.headers["Content-Length"] == got.headers["Content-Length"] == "9"
    assert head.headers["ETag"] == got.headers["ETag"] and head.headers["x-item"] == "1"
    assert harness.calls["get"] == 1


def test_head_before_any_get_asks_the_get_handler_and_sends_no_body(harness: Harness) -> None:
    routes_with_head(harness)

    head = harness.client.head("/items/2")

    assert head.status_int == 200 and head.body == b""
    assert head.headers["Content-Length"] == "9"
    assert harness.calls["get"] == 1


def test_the_apps_own_head_route_wins(harness: Harness) -> None:
    routes_with_head(harness, own_head=True)

    head = harness.client.head("/items/3")

    assert head.headers["x-own-head"] == "yes"
    assert harness.calls["own head"] == 1 and harness.calls["get"] == 0


def test_attach_adds_the_middleware_to_an_app_made_without_it() -> None:
    app = Application()

    @app.get("/items", cache_expiry=60)
    def items(request: HttpRequest) -> HttpResponse:
        return HttpResponse("items")

    CacheMiddleware(CollectableInMemoryCacheStorage()).attach(app)
    client = TestApp(create_wsgi_handler(app), lint=False)
    client.get("/items")

    assert client.get("/items").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_cache_keywords_on_a_route_that_stores_nothing_are_checked_and_explained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    caplog.set_level(logging.WARNING, logger="chocs_middleware.cache")

    @harness.app.get("/public", cache_control="public", cache_vary=("accept",))
    def public(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    @harness.app.get("/bad", cache_control="nonsense")
    def bad(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    @harness.app.get("/flask", timeout=60)
    def flask_style(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    with pytest.raises(ValueError, match=re.escape('cache_control on route \'/bad\' must be "public" or "private"')):
        harness.middleware.attach(harness.app)
    for _ in range(3):
        harness.client.get("/public")
        harness.client.get("/flask")

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "route '/public' has cache_control, cache_vary but neither cache_expiry nor cache=True, so nothing is "
        "cached: add cache_expiry=<seconds> (or cache=True when the handler sets its own Cache-Control)",
        "route '/flask' has timeout, which chocs-cache does not read; did you mean cache_expiry?",
    ]


@pytest.mark.parametrize("keyword", ["cache_ttl", "cache_timeout", "cache_expires"])
def test_other_libraries_names_for_an_expiry_point_to_cache_expiry(keyword: str) -> None:
    cache = CacheMiddleware(CollectableInMemoryCacheStorage())
    app = Application(cache)
    app.get("/x", **{keyword: 60})(lambda request: HttpResponse(""))

    with pytest.raises(
        ValueError, match=re.escape(f"unknown keyword {keyword} on route '/x'; did you mean cache_expiry?")
    ):
        cache.attach(app)


def test_safe_methods_takes_names() -> None:
    cache = CacheMiddleware(CollectableInMemoryCacheStorage(), safe_methods=("GET",))
    app = Application(cache)

    @app.get("/items", cache_expiry=60)
    def items(request: HttpRequest) -> HttpResponse:
        return HttpResponse("items")

    client = TestApp(create_wsgi_handler(cache.attach(app)), lint=False)
    client.get("/items")

    assert client.get("/items").headers["Cache-Status"].startswith("chocs-cache; hit")
