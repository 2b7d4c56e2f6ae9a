"""Revalidating like an HTTP cache (RFC 9111 §4.2, §4.3; RFC 9110 §14; RFC 9213), through the real WSGI path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Clock, Harness, LiveServer
from tests.middleware.test_freshness import LM
from tests.user_storages import CollectableDictStorage

StartServer = Callable[[Harness], LiveServer]


def versioned_article(harness: Harness, version: dict[str, int], **keywords: object) -> None:
    """A handler that answers its own conditional requests, and renders only when it must."""

    @harness.app.get("/article", **({"cache_expiry": 10} | keywords))
    def article(request: HttpRequest) -> HttpResponse:
        harness.count("asked")
        etag = f'"v{version["n"]}"'
        if request.headers.get("if-none-match") == etag:
            return HttpResponse("", HttpStatus.NOT_MODIFIED, headers={"etag": etag})
        harness.count("rendered")
        return HttpResponse(f"article v{version['n']}", headers={"etag": etag, "content-type": "text/html"})


class TestKeepingStaleResponsesToRevalidate:
    def test_a_stale_response_is_revalidated_and_a_304_freshens_it_without_rendering(
        self, harness: Harness, clock: Clock
    ) -> None:
        versioned_article(harness, {"n": 1})
        harness.client.get("/article")
        clock.advance(60)  # long stale, no stale window at all: kept to be revalidated

        revalidated = harness.client.get("/article")
        hit = harness.client.get("/article")

        assert revalidated.status_int == 200 and revalidated.text == "article v1"
        assert revalidated.headers["Cache-Status"] == "chocs-cache; fwd=stale; fwd-status=304; stored"
        assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert (harness.calls["asked"], harness.calls["rendered"]) == (2, 1)

    def test_a_304_with_another_entity_tag_does_not_freshen_the_stale_response(
        self, harness: Harness, clock: Clock
    ) -> None:
        version = {"n": 1}

        @harness.app.get("/article", cache_expiry=10)
        def article(request: HttpRequest) -> HttpResponse:
            harness.count("asked")
            etag = f'"v{version["n"]}"'
            if request.headers.get("if-none-match"):  # a handler that says 304 to any tag
                return HttpResponse("", HttpStatus.NOT_MODIFIED, headers={"etag": etag})
            return HttpResponse(f"article v{version['n']}", headers={"etag": etag})

        harness.client.get("/article")
        version["n"] = 2
        clock.advance(60)

        answer = harness.client.get("/article")

        # Its 304 is about "v2", not the stored "v1": the stale body must not go out as "v2".
        assert (answer.text, answer.headers["ETag"]) == ("article v2", '"v2"')
        assert answer.headers["Cache-Status"] == "chocs-cache; fwd=stale; fwd-status=200; stored"
        assert harness.calls["asked"] == 3

    def test_the_conditional_request_carries_the_stored_validators(self, harness: Harness, clock: Clock) -> None:
        seen: list[tuple[str | None, str | None]] = []

        @harness.app.get("/page", cache=True)
        def page(request: HttpRequest) -> HttpResponse:
            asked = str(request.headers.get("if-none-match")), str(request.headers.get("if-modified-since"))
            seen.append((asked[0] or None, asked[1] or None))
            return HttpResponse("page", headers={"cache-control": "max-age=5", "etag": '"p1"', "last-modified": LM})

        harness.client.get("/page")
        clock.advance(10)
        harness.client.get("/page", headers={"If-None-Match": '"client-tag"'})

        assert seen == [(None, None), ('"p1"', LM)]  # the client's own precondition is set aside

    def test_keep_stale_zero_forgets_a_response_when_it_goes_stale(self, clock: Clock) -> None:
        harness = Harness(clock=clock, keep_stale=0)
        versioned_article(harness, {"n": 1})
        harness.client.get("/article")
        clock.advance(11)

        assert harness.client.get("/article").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
        assert harness.calls["rendered"] == 2

    def test_must_revalidate_and_no_cache_responses_are_revalidated_never_served_stale(
        self, harness: Harness, clock: Clock
    ) -> None:
        @harness.app.get("/strict", cache=True, cache_stale_if_error=600)
        def strict(request: HttpRequest) -> HttpResponse:
            harness.count("strict")
            if harness.calls["strict"] > 1:
                return HttpResponse("down", HttpStatus.SERVICE_UNAVAILABLE)
            return HttpResponse("ok", headers={"cache-control": "max-age=5, must-revalidate"})

        harness.client.get("/strict")
        clock.advance(10)

        assert harness.client.get("/strict", expect_errors=True).status_int == 503


def localised_greeting(harness: Harness, asked_with: list[str | None], confirms: str | None = None) -> None:
    """German for German readers, English for everyone else; a 304 when asked about its current
    tag (``confirms``: the tag every 304 carries instead, as a confused handler would)."""

    @harness.app.get("/greeting", cache_expiry=600, cache_validate_variants=True)
    def greeting(request: HttpRequest) -> HttpResponse:
        harness.count("asked")
        asked = str(request.headers.get("if-none-match") or "") or None
        asked_with.append(asked)
        language = "de" if str(request.headers.get("accept-language") or "").startswith("de") else "en"
        etag = f'"greeting-{language}"'
        if asked is not None and etag in [tag.strip() for tag in asked.split(",")]:
            return HttpResponse("", HttpStatus.NOT_MODIFIED, headers={"etag": confirms or etag})
        harness.count("rendered")
        words = {"de": "Hallo", "en": "Hello"}[language]
        return HttpResponse(words, headers={"etag": etag, "content-language": language})


@pytest.fixture(params=["in-memory", "without-get-many", "redis"])
def any_storage_harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "in-memory":
        yield Harness()
        return
    if request.param == "without-get-many":
        yield Harness(CollectableDictStorage())
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    storage = RedisCacheStorage.from_url(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield Harness(storage)
    storage.close()


class TestValidatingResponsesStoredForOtherRequestHeaders:
    def test_a_vary_miss_asks_the_handler_about_every_stored_response_of_the_uri(
        self, any_storage_harness: Harness
    ) -> None:
        harness = any_storage_harness
        asked_with: list[str | None] = []
        localised_greeting(harness, asked_with)
        harness.client.get("/greeting", headers={"Accept-Language": "en"})
        harness.client.get("/greeting", headers={"Accept-Language": "de"})

        french = harness.client.get("/greeting", headers={"Accept-Language": "fr"})
        again = harness.client.get("/greeting", headers={"Accept-Language": "fr"})

        assert asked_with[2] == '"greeting-de", "greeting-en"'  # newest first
        assert (french.status_int, french.text, french.headers["Content-Language"]) == (200, "Hello", "en")
        assert french.headers["ETag"] == '"greeting-en"'
        assert french.headers["Cache-Status"] == "chocs-cache; fwd=vary-miss; fwd-status=304; stored"
        assert again.headers["Cache-Status"].startswith("chocs-cache; hit") and again.text == "Hello"
        assert (harness.calls["asked"], harness.calls["rendered"]) == (3, 2)

    def test_the_clients_own_precondition_is_set_aside_then_answered_from_the_confirmed_response(
        self, harness: Harness
    ) -> None:
        asked_with: list[str | None] = []
        localised_greeting(harness, asked_with)
        harness.client.get("/greeting", headers={"Accept-Language": "en"})

        answer = harness.client.get(
            "/greeting", headers={"Accept-Language": "fr", "If-None-Match": '"old", "greeting-en"'}, status=304
        )

        assert answer.headers["ETag"] == '"greeting-en"' and answer.body == b""
        assert asked_with == [None, '"greeting-en"']
        assert harness.calls["rendered"] == 1

    def test_a_304_that_names_none_of_them_is_not_used_and_the_handler_is_asked_again(self, harness: Harness) -> None:
        asked_with: list[str | None] = []
        localised_greeting(harness, asked_with, confirms='"something-else"')
        harness.client.get("/greeting", headers={"Accept-Language": "en"})

        french = harness.client.get("/greeting", headers={"Accept-Language": "fr"})

        assert asked_with == [None, '"greeting-en"', None]
        assert (french.status_int, french.text) == (200, "Hello")
        assert french.headers["Cache-Status"] == "chocs-cache; fwd=vary-miss; fwd-status=200; stored"

    def test_a_response_kept_for_someone_elses_credentials_is_never_offered(self, harness: Harness) -> None:
        asked_with: list[str | None] = []

        @harness.app.get("/me", cache=True, cache_validate_variants=True)
        def me(request: HttpRequest) -> HttpResponse:
            asked_with.append(str(request.headers.get("if-none-match") or "") or None)
            user = str(request.headers.get("cookie") or "")
            # The same version tag for every user's profile: a handler's mistake, not a licence to leak.
            headers: dict[str, str | Sequence[str]] = {
                "etag": '"version-1"',
                "vary": "cookie",
                "cache-control": "max-age=60",
            }
            if request.headers.get("if-none-match"):
                return HttpResponse("", HttpStatus.NOT_MODIFIED, headers=headers)
            return HttpResponse(f"profile of {user}", headers=headers)

        harness.client.get("/me", headers={"Cookie": "user=alice"})
        alice_again = harness.client.get("/me", headers={"Cookie": "user=alice"})
        bob = harness.client.get("/me", headers={"Cookie": "user=bob"})

        assert alice_again.headers["Cache-Status"].startswith("chocs-cache; hit")  # alice's response is stored
        assert bob.text == "profile of user=bob"
        assert asked_with == [None, None]


def test_a_request_in_the_stale_while_revalidate_window_is_answered_while_the_refresh_runs(
    live: StartServer, clock: Clock
) -> None:
    harness = Harness(clock=clock)
    refreshing, release = threading.Event(), threading.Event()

    @harness.app.get("/feed", cache_expiry=10, cache_stale_while_revalidate=60)
    def feed(request: HttpRequest) -> HttpResponse:
        harness.count("feed")
        if harness.calls["feed"] > 1:
            refreshing.set()
            release.wait(10)  # a slow refresh
        return HttpResponse(f"feed v{harness.calls['feed']}")

    server = live(harness)
    server.get("/feed")
    clock.advance(15)

    at_once = server.get("/feed")  # returns while the refresh is held
    assert refreshing.wait(10)
    release.set()
    harness.settle()
    refreshed = server.get("/feed")

    assert at_once[2] == b"feed v1"
    assert at_once[1]["cache-status"] == "chocs-cache; fwd=stale; ttl=-5; detail=stale-while-revalidate"
    assert refreshed[2] == b"feed v2"
    assert refreshed[1]["cache-status"].startswith("chocs-cache; hit")
