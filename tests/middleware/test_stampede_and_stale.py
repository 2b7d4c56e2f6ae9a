"""Stampede protection, stale-while-revalidate, stale-if-error and revalidation with the handler,
through a real multi-threaded WSGI server (RFC 5861; RFC 9111 §4.3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import CacheMiddleware
from chocs_middleware.cache.flow.flights import Coalescer, Lead
from tests.conftest import Clock, Harness, LiveServer, concurrently
from tests.user_storages import LockingDictStorage

StartServer = Callable[[Harness], LiveServer]


def test_24_threads_on_one_cold_key_run_a_200_ms_handler_once(live: StartServer) -> None:
    harness = Harness()

    @harness.app.get("/report", cache_expiry=60)
    def report(request: HttpRequest) -> HttpResponse:
        harness.count("report")
        threading.Event().wait(0.2)  # a slow query
        return HttpResponse("the report")

    server = live(harness)
    results = concurrently(24, lambda _: server.get("/report"))

    assert harness.calls["report"] == 1
    assert [body for _, _, body in results] == [b"the report"] * 24
    statuses = sorted(headers["cache-status"] for _, headers, _ in results)
    assert statuses.count("chocs-cache; fwd=uri-miss; fwd-status=200; collapsed") == 23
    assert statuses.count("chocs-cache; fwd=uri-miss; fwd-status=200; stored") == 1


def test_collapsed_requests_each_get_their_own_conditional_answer(live: StartServer) -> None:
    harness = Harness()

    @harness.app.get("/doc", cache_expiry=60)
    def doc(request: HttpRequest) -> HttpResponse:
        harness.count("doc")
        threading.Event().wait(0.2)
        return HttpResponse("document", headers={"etag": '"d1"'})

    server = live(harness)
    results = concurrently(8, lambda n: server.get("/doc", {"If-None-Match": '"d1"'} if n % 2 else {}))

    assert harness.calls["doc"] == 1
    assert sorted(status for status, _, _ in results) == [200] * 4 + [304] * 4


def test_two_different_keys_in_parallel_do_not_wait_for_each_other(live: StartServer) -> None:
    harness = Harness()
    started = {"a": threading.Event(), "b": threading.Event()}
    saw_the_other: dict[str, bool] = {}

    @harness.app.get("/keys/{name}", cache_expiry=60)
    def keyed(request: HttpRequest) -> HttpResponse:
        name = str(request.path_parameters["name"])
        started[name].set()
        # Serialised handlers would each wait here in vain; parallel ones see each other.
        saw_the_other[name] = started["b" if name == "a" else "a"].wait(5)
        return HttpResponse(name)

    server = live(harness)
    concurrently(2, lambda n: server.get(f"/keys/{'ab'[n]}"))

    assert saw_the_other == {"a": True, "b": True}


def test_a_waiter_past_lock_timeout_runs_the_handler_itself(live: StartServer) -> None:
    harness = Harness(lock_timeout=0.3)
    release_first = threading.Event()

    @harness.app.get("/stuck", cache_expiry=60)
    def stuck(request: HttpRequest) -> HttpResponse:
        harness.count("stuck")
        if harness.calls["stuck"] == 1:
            release_first.wait(10)  # the first caller hangs well past the lock timeout
        return HttpResponse(f"answer {harness.calls['stuck']}")

    server = live(harness)
    first = threading.Thread(target=server.get, args=("/stuck",))
    first.start()
    while harness.calls["stuck"] == 0:
        threading.Event().wait(0.01)

    status, headers, body = server.get("/stuck")
    release_first.set()
    first.join()

    assert (status, body) == (200, b"answer 2")
    assert "collapsed" not in headers["cache-status"]
    assert harness.calls["stuck"] == 2


def test_no_flight_outlives_its_requests(live: StartServer) -> None:
    harness = Harness()

    @harness.app.get("/many/{n}", cache_expiry=60)
    def many(request: HttpRequest) -> HttpResponse:
        return HttpResponse("x")

    server = live(harness)
    concurrently(16, lambda n: [server.get(f"/many/{n}-{i}") for i in range(20)])

    assert len(harness.middleware._cache.flights) == 0


def test_ten_thousand_distinct_keys_leave_no_lock_behind() -> None:
    flights: Coalescer[str] = Coalescer(5.0, Clock())

    for number in range(10_000):
        role = flights.join(f"key-{number}", f"resource-{number}")
        assert isinstance(role, Lead)
        role.share("done")
        role.close()

    assert len(flights) == 0


def test_the_handler_runs_once_across_processes_sharing_a_lockable_storage(live: StartServer) -> None:
    storage = LockingDictStorage()
    processes = [Harness(storage), Harness(storage)]
    calls = {"n": 0}
    lock = threading.Lock()

    for harness in processes:

        @harness.app.get("/shared", cache_expiry=60)
        def shared(request: HttpRequest) -> HttpResponse:
            with lock:
                calls["n"] += 1
            threading.Event().wait(0.3)
            return HttpResponse("computed once")

    servers = [live(harness) for harness in processes]
    results = concurrently(16, lambda n: servers[n % 2].get("/shared", {"Host": "api.example"}))

    assert calls["n"] == 1
    assert {body for _, _, body in results} == {b"computed once"}


class TestStaleWhileRevalidate:
    def route(self, harness: Harness, slow: threading.Event | None = None, **keywords: object) -> None:
        @harness.app.get("/feed", cache_expiry=10, **keywords)
        def feed(request: HttpRequest) -> HttpResponse:
            harness.count("feed")
            if slow is not None and harness.calls["feed"] > 1:
                slow.wait(10)
            return HttpResponse(f"feed v{harness.calls['feed']}")

    def test_inline_one_refreshes_while_the_others_get_the_stale_response_at_once(
        self, live: StartServer, clock: Clock
    ) -> None:
        harness = Harness(clock=clock, background_revalidation=False)  # for AWS Lambda: the refresher waits
        slow_refresh = threading.Event()
        self.route(harness, slow_refresh, cache_stale_while_revalidate=60)
        server = live(harness)
        server.get("/feed")
        clock.advance(15)

        refresher = threading.Thread(target=server.get, args=("/feed",))
        refresher.start()
        while harness.calls["feed"] < 2:
            threading.Event().wait(0.01)
        during = [server.get("/feed") for _ in range(3)]
        slow_refresh.set()
        refresher.join()
        after = server.get("/feed")

        assert [body for _, _, body in during] == [b"feed v1"] * 3
        assert during[0][1]["cache-status"] == "chocs-cache; fwd=stale; ttl=-5; detail=stale-while-revalidate"
        assert during[0][1]["age"] == "15"
        assert after[2] == b"feed v2"
        assert after[1]["cache-status"].startswith("chocs-cache; hit")
        assert harness.calls["feed"] == 2

    def test_past_the_window_requests_wait_for_a_fresh_response(self, harness: Harness, clock: Clock) -> None:
        self.route(harness, cache_stale_while_revalidate=60)
        harness.client.get("/feed")
        clock.advance(71)

        response = harness.client.get("/feed")

        assert response.text == "feed v2"
        assert "stale-while-revalidate" not in response.headers["Cache-Status"]

    def test_the_responses_own_window_wins_over_the_route(self, harness: Harness, clock: Clock) -> None:
        @harness.app.get("/own", cache_expiry=10, cache_stale_while_revalidate=60)
        def own(request: HttpRequest) -> HttpResponse:
            harness.count("own")
            return HttpResponse("x", headers={"cache-control": "max-age=10, stale-while-revalidate=5"})

        harness.client.get("/own")
        clock.advance(20)
        harness.client.get("/own")

        assert harness.calls["own"] == 2


class TestStaleIfError:
    def route(self, harness: Harness, failure: str, **keywords: object) -> None:
        @harness.app.get("/prices", cache_expiry=10, **keywords)
        def prices(request: HttpRequest) -> HttpResponse:
            harness.count("prices")
            if harness.calls["prices"] > 1:
                if failure == "raise":
                    raise ConnectionError("database is down")
                return HttpResponse("unavailable", HttpStatus.SERVICE_UNAVAILABLE)
            return HttpResponse("prices v1")

    @pytest.mark.parametrize("failure", ["raise", "503"])
    def test_inside_the_window_the_stale_response_is_served_with_its_age(
        self, harness: Harness, clock: Clock, cache_log: pytest.LogCaptureFixture, failure: str
    ) -> None:
        self.route(harness, failure, cache_stale_if_error=60)
        harness.client.get("/prices")
        clock.advance(20)

        response = harness.client.get("/prices")

        assert (response.status_int, response.text) == (200, "prices v1")
        assert response.headers["Age"] == "20"
        assert response.headers["Cache-Status"].endswith("ttl=-10; detail=stale-if-error")
        assert any(record.levelno == logging.ERROR for record in cache_log.records)
        assert "stale-if-error" in cache_log.text

    @pytest.mark.parametrize(("failure", "status"), [("raise", 500), ("503", 503)])
    def test_outside_the_window_the_error_is_the_answer(
        self, harness: Harness, clock: Clock, failure: str, status: int
    ) -> None:
        self.route(harness, failure, cache_stale_if_error=60)
        harness.client.get("/prices")
        clock.advance(71)

        response = harness.client.get("/prices", expect_errors=True)

        assert response.status_int == status

    def test_must_revalidate_forbids_serving_stale(self, harness: Harness, clock: Clock) -> None:
        @harness.app.get("/strict", cache_expiry=10, cache_stale_if_error=60)
        def strict(request: HttpRequest) -> HttpResponse:
            harness.count("strict")
            if harness.calls["strict"] > 1:
                return HttpResponse("down", HttpStatus.SERVICE_UNAVAILABLE)
            return HttpResponse("ok", headers={"cache-control": "max-age=10, must-revalidate"})

        harness.client.get("/strict")
        clock.advance(20)

        assert harness.client.get("/strict", expect_errors=True).status_int == 503


class TestRevalidationWithTheHandler:
    def route(self, harness: Harness, version: dict[str, int]) -> None:
        # A stale response is revalidated while it is still stored: within its stale windows.
        @harness.app.get("/article", cache_expiry=10, cache_stale_if_error=600)
        def article(request: HttpRequest) -> HttpResponse:
            harness.count("checks")
            etag = f'"v{version["n"]}"'
            if request.headers.get("if-none-match") == etag:
                return HttpResponse("", HttpStatus.NOT_MODIFIED, headers={"etag": etag})
            harness.count("renders")  # the expensive part
            return HttpResponse(f"article v{version['n']}", headers={"etag": etag, "content-type": "text/html"})

    def test_a_304_from_the_handler_refreshes_the_stored_response(self, harness: Harness, clock: Clock) -> None:
        version = {"n": 1}
        self.route(harness, version)
        first = harness.client.get("/article")
        clock.advance(15)

        revalidated = harness.client.get("/article")
        clock.advance(3)
        hit = harness.client.get("/article")

        assert revalidated.text == hit.text == "article v1"
        assert revalidated.headers["Content-Type"] == first.headers["Content-Type"] == "text/html"
        assert revalidated.headers["Cache-Status"] == "chocs-cache; fwd=stale; fwd-status=304; stored"
        assert hit.headers["Age"] == "3"
        assert hit.headers["Date"] != first.headers["Date"]
        assert (harness.calls["checks"], harness.calls["renders"]) == (2, 1)

    def test_a_200_from_the_handler_replaces_it(self, harness: Harness, clock: Clock) -> None:
        version = {"n": 1}
        self.route(harness, version)
        harness.client.get("/article")
        version["n"] = 2
        clock.advance(15)

        replaced = harness.client.get("/article")
        hit = harness.client.get("/article")

        assert replaced.text == hit.text == "article v2"
        assert hit.headers["ETag"] == '"v2"'
        assert harness.calls["renders"] == 2

    def test_the_clients_own_preconditions_are_evaluated_after_revalidation(
        self, harness: Harness, clock: Clock
    ) -> None:
        version = {"n": 1}
        self.route(harness, version)
        harness.client.get("/article")
        clock.advance(15)

        response = harness.client.get("/article", headers={"If-None-Match": '"v1"'}, status=304)

        assert response.headers["ETag"] == '"v1"'
        assert harness.calls["renders"] == 1


@pytest.mark.parametrize(
    ("keyword", "value", "error"),
    [
        ("cache_stale_while_revalidate", -1, ValueError),
        ("cache_stale_if_error", "1m", TypeError),
    ],
)
def test_stale_window_keywords_are_validated(harness: Harness, keyword: str, value: object, error: type) -> None:
    @harness.app.get("/bad", cache_expiry=5, **{keyword: value})
    def bad(request: HttpRequest) -> HttpResponse:
        return HttpResponse("x")

    with pytest.raises(error, match=f"{keyword} on route '/bad'"):
        harness.app(HttpRequest("GET", "/bad"))


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), ("5", TypeError)])
def test_lock_timeout_must_be_positive_seconds(value: object, error: type) -> None:
    from chocs_middleware.cache import InMemoryCacheStorage

    with pytest.raises(error, match="lock_timeout"):
        CacheMiddleware(InMemoryCacheStorage(), lock_timeout=value)


def test_a_handler_failing_on_every_request_in_the_stale_if_error_window_is_logged_once(
    harness: Harness, clock: Clock, cache_log: pytest.LogCaptureFixture
) -> None:
    @harness.app.get("/prices", cache_expiry=10, cache_stale_if_error=3600)
    def prices(request: HttpRequest) -> HttpResponse:
        harness.count("prices")
        if harness.calls["prices"] > 1:
            raise ConnectionError("database is down")
        return HttpResponse("prices v1")

    harness.client.get("/prices")
    clock.advance(20)
    answers = [harness.client.get("/prices").text for _ in range(2000)]

    assert answers == ["prices v1"] * 2000
    assert len([record for record in cache_log.records if record.levelno == logging.ERROR]) == 1
