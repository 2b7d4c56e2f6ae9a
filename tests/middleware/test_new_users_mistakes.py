"""What a new user gets wrong is an error at start-up (or a WARNING where another library may own
the name), never a setting that silently does nothing, or nothing but harm."""

from __future__ import annotations

import logging
import re

import pytest
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler
from webtest import TestApp

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage, RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Harness


def test_an_expiry_longer_than_any_lifetime_is_taken_as_the_longest_and_served(storage_harness: Harness) -> None:
    @storage_harness.app.get("/forever", cache_expiry=10**10)
    def forever(request: HttpRequest) -> HttpResponse:
        storage_harness.count("forever")
        return HttpResponse("kept")

    stored = storage_harness.client.get("/forever")
    hits = [storage_harness.client.get("/forever") for _ in range(3)]

    assert stored.headers["Cache-Control"] == "max-age=2147483648"  # 2^31 s, as RFC 9111 §1.2.2 caps
    assert all(hit.headers["Cache-Status"].startswith("chocs-cache; hit") for hit in hits)
    assert storage_harness.calls["forever"] == 1


def attach_error(**route: object) -> str:
    harness = Harness()
    method = route.pop("method", "post")

    def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    getattr(harness.app, str(method))("/thing", **route)(handler)

    with pytest.raises((TypeError, ValueError)) as raised:
        harness.middleware.attach(harness.app)
    return str(raised.value)


@pytest.mark.parametrize(
    ("method", "keyword"),
    [("post", "cache_expiry"), ("put", "cache_expiry"), ("patch", "cache_stale_if_error"), ("delete", "cache_max_age")],
)
def test_a_lifetime_on_a_write_route_is_an_error_at_attach(method: str, keyword: str) -> None:
    said = attach_error(method=method, **{keyword: 60})

    assert said.startswith(f"{keyword} on route '/thing' has no effect on a write")
    assert "put it on the GET route" in said


def test_cache_max_age_longer_than_cache_expiry_is_an_error_at_attach() -> None:
    said = attach_error(method="get", cache_expiry=10, cache_max_age=60)

    assert "cache_max_age on route '/thing' is 60, more than cache_expiry (10)" in said


def test_a_5xx_among_successful_responses_is_an_error_when_the_middleware_is_made() -> None:
    with pytest.raises(ValueError, match=r"successful_responses=\.\.\.\) holds 500"):
        CacheMiddleware(CollectableInMemoryCacheStorage(), successful_responses=(200, 500))


def test_targeted_fields_given_as_one_string_is_an_error_saying_how_to_write_it() -> None:
    with pytest.raises(TypeError, match=re.escape("write targeted_fields=('cdn-cache-control',)")):
        CacheMiddleware(CollectableInMemoryCacheStorage(), targeted_fields="cdn-cache-control")


@pytest.mark.parametrize(("keyword", "meant"), [("invalidates", "cache_invalidates"), ("tags", "cache_groups")])
def test_a_keyword_without_the_cache_prefix_is_a_warning_naming_ours(
    keyword: str, meant: str, cache_log: pytest.LogCaptureFixture
) -> None:
    harness = Harness()

    @harness.app.patch("/thing", **{keyword: ("things",)})
    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    harness.middleware.attach(harness.app)  # another library may read it: said, not refused

    assert f"route '/thing' has {keyword}, which chocs-cache does not read; did you mean {meant}?" in cache_log.text


class TestAttachedBeforeTheRoutes:
    def app(self) -> tuple[CacheMiddleware, Application, dict[str, int]]:
        cache = CacheMiddleware(CollectableInMemoryCacheStorage())
        app = cache.attach(Application())
        calls = {"page": 0}

        @app.get("/pages/{id}", cache_expiry=60)
        def page(request: HttpRequest) -> HttpResponse:
            calls["page"] += 1
            return HttpResponse(f"page {request.path_parameters['id']}", headers={"content-type": "text/plain"})

        @app.get("/uncached")
        def uncached(request: HttpRequest) -> HttpResponse:
            return HttpResponse("uncached")

        return cache, app, calls

    def test_says_so_once_at_attach(self, cache_log: pytest.LogCaptureFixture) -> None:
        self.app()

        assert "attach(app) found no routes: call it once they are registered" in cache_log.text

    def test_head_is_answered_for_a_cached_get_route_registered_later(self) -> None:
        _, app, calls = self.app()
        client = TestApp(create_wsgi_handler(app), lint=False)

        head_first = client.head("/pages/1")
        client.get("/pages/1")
        head_stored = client.head("/pages/1")

        assert (head_first.status_int, head_first.body) == (200, b"")
        assert head_first.headers["Content-Length"] == str(len("page 1"))
        assert head_stored.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert calls["page"] == 2  # the first HEAD asked the GET handler; the GET stored its answer

    def test_a_route_registered_later_is_checked_on_its_first_request(self) -> None:
        cache = CacheMiddleware(CollectableInMemoryCacheStorage())
        app = cache.attach(Application())

        @app.get("/late", cache_expiry="soon")
        def late(request: HttpRequest) -> HttpResponse:
            return HttpResponse("")

        client = TestApp(create_wsgi_handler(app), lint=False)
        assert client.get("/late", expect_errors=True).status_int == 500
        assert client.head("/late", expect_errors=True).status_int == 500

    def test_head_on_an_uncached_get_route_stays_chocs_own_404(self) -> None:
        _, app, _ = self.app()

        assert TestApp(create_wsgi_handler(app), lint=False).head("/uncached", expect_errors=True).status_int == 404


class TestAProcessOwnStorageBehindSeveralProcesses:
    def app(self) -> TestApp:
        harness = Harness()

        @harness.app.get("/page", cache_expiry=60)
        def page(request: HttpRequest) -> HttpResponse:
            return HttpResponse("page", HttpStatus.OK)

        return TestApp(create_wsgi_handler(harness.app), lint=False, extra_environ={"wsgi.multiprocess": True})

    def test_is_a_warning_once_naming_redis(self, cache_log: pytest.LogCaptureFixture) -> None:
        client = self.app()
        for _ in range(3):
            client.get("/page")

        warnings = [record.getMessage() for record in cache_log.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "CollectableInMemoryCacheStorage is this process's own" in warnings[0]
        assert "RedisCacheStorage" in warnings[0]

    def test_is_not_said_behind_one_process_or_on_redis(
        self, cache_log: pytest.LogCaptureFixture, redis_server: RedisServer, redis_prefix: str
    ) -> None:
        harness = Harness()
        storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
        shared = Harness(storage)
        for made in (harness, shared):

            @made.app.get("/page", cache_expiry=60)
            def page(request: HttpRequest) -> HttpResponse:
                return HttpResponse("page")

        TestApp(create_wsgi_handler(harness.app), lint=False, extra_environ={"wsgi.multiprocess": False}).get("/page")
        TestApp(create_wsgi_handler(shared.app), lint=False, extra_environ={"wsgi.multiprocess": True}).get("/page")
        storage.close()

        assert not [record for record in cache_log.records if record.levelno >= logging.WARNING]
