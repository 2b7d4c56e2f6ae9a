"""Revalidating like an HTTP cache (RFC 9111 §4.2, §4.3; RFC 9110 §14; RFC 9213), through the real WSGI path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import RedisCacheStorage
from chocs_middleware.cache.semantics.dates import format_http_date
from support.redis_server import RedisServer
from tests.conftest import Clock, Harness, LiveServer, header_lines
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


LM = "Sun, 06 Nov 1994 08:49:37 GMT"


class TestAgeAndExpires:
    def test_a_handlers_age_counts_toward_staleness(self, harness: Harness, clock: Clock) -> None:
        @harness.app.get("/aged", cache=True)
        def aged(request: HttpRequest) -> HttpResponse:
            harness.count("aged")
            return HttpResponse("x", headers={"cache-control": "max-age=60", "age": "59"})

        first = harness.client.get("/aged")
        second = harness.client.get("/aged")
        clock.advance(1)
        third = harness.client.get("/aged")

        assert first.headers["Age"] == "59"  # the Age the handler gave is passed on
        assert second.headers["Age"] == "59" and second.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert third.headers["Cache-Status"].startswith("chocs-cache; fwd=stale")

    @pytest.mark.parametrize("age", ["abc", "-7200", "7200.0"])
    def test_an_invalid_age_is_ignored(self, harness: Harness, age: str) -> None:
        @harness.app.get("/aged", cache=True)
        def aged(request: HttpRequest) -> HttpResponse:
            return HttpResponse("x", headers={"cache-control": "max-age=3600", "age": age})

        harness.client.get("/aged")

        assert harness.client.get("/aged").headers["Cache-Status"].startswith("chocs-cache; hit")

    @pytest.mark.parametrize(
        "expires",
        [
            "garbage",
            "0",
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu, 18 Aug 50 02:01:18 GMT",
            "Thu 18 Aug 2050 02:01:18 GMT",
        ],
    )
    def test_an_invalid_expires_means_already_expired(self, harness: Harness, expires: str) -> None:
        @harness.app.get("/dated", cache=True)
        def dated(request: HttpRequest) -> HttpResponse:
            harness.count("dated")
            return HttpResponse("x", headers={"expires": expires})

        harness.client.get("/dated")
        harness.client.get("/dated")

        assert harness.calls["dated"] == 2

    def test_expires_on_several_lines_means_already_expired(self, harness: Harness, clock: Clock) -> None:
        @harness.app.get("/dated", cache=True)
        def dated(request: HttpRequest) -> HttpResponse:
            harness.count("dated")
            response = HttpResponse("x")
            response.headers.set("expires", format_http_date(clock.now + 3600))
            response.headers.set("expires", format_http_date(clock.now + 7200))
            return response

        harness.client.get("/dated")
        harness.client.get("/dated")

        assert harness.calls["dated"] == 2


class TestStatuses:
    @pytest.mark.parametrize("status", [301, 404, 410, 503, 599])
    def test_any_final_status_with_explicit_freshness_is_stored_on_a_cache_true_route(
        self, harness: Harness, status: int
    ) -> None:
        @harness.app.get("/answer", cache=True)
        def answer(request: HttpRequest) -> HttpResponse:
            harness.count("answer")
            response = HttpResponse("as it is", headers={"cache-control": "max-age=60"})
            response.status_code = HttpStatus.from_int(status) if status != 599 else status  # type: ignore[assignment]
            return response

        harness.client.get("/answer", expect_errors=True)
        again = harness.client.get("/answer", expect_errors=True)

        assert again.status_int == status and again.text == "as it is"
        assert again.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert harness.calls["answer"] == 1

    def test_a_404_with_explicit_freshness_is_not_stored_on_a_cache_expiry_route(self, harness: Harness) -> None:
        @harness.app.get("/missing", cache_expiry=60)
        def missing(request: HttpRequest) -> HttpResponse:
            harness.count("missing")
            return HttpResponse("no", HttpStatus.NOT_FOUND, headers={"cache-control": "max-age=60"})

        harness.client.get("/missing", expect_errors=True)
        harness.client.get("/missing", expect_errors=True)

        assert harness.calls["missing"] == 2

    def test_a_5xx_is_not_stored_for_a_lifetime_it_did_not_state(self, clock: Clock) -> None:
        harness = Harness(clock=clock, heuristic_fraction=0.1)

        @harness.app.get("/broken", cache=True)
        def broken(request: HttpRequest) -> HttpResponse:
            harness.count("broken")
            return HttpResponse("no", HttpStatus.NOT_IMPLEMENTED, headers={"last-modified": LM})

        harness.client.get("/broken", expect_errors=True)
        harness.client.get("/broken", expect_errors=True)

        assert harness.calls["broken"] == 2

    def test_must_understand_stores_what_it_understands_despite_no_store(self, harness: Harness) -> None:
        @harness.app.get("/understood/{code}", cache=True)
        def understood(request: HttpRequest) -> HttpResponse:
            harness.count(str(request.path_parameters["code"]))
            response = HttpResponse("x", headers={"cache-control": "max-age=3600, no-store, must-understand"})
            response.status_code = int(request.path_parameters["code"])  # type: ignore[assignment]
            return response

        for _ in range(2):
            harness.client.get("/understood/200")
            harness.client.get("/understood/599", expect_errors=True)

        assert harness.calls == {"200": 1, "599": 2}


def test_heuristic_freshness_is_opt_in_and_a_fraction_of_the_time_since_last_modified(clock: Clock) -> None:
    harness = Harness(clock=clock, heuristic_fraction=0.1)

    @harness.app.get("/unsaid", cache=True)
    def unsaid(request: HttpRequest) -> HttpResponse:
        harness.count("unsaid")
        return HttpResponse("x", headers={"last-modified": format_http_date(clock.now - 1000)})

    first = harness.client.get("/unsaid")
    clock.advance(99)
    inside = harness.client.get("/unsaid")
    clock.advance(2)
    outside = harness.client.get("/unsaid")

    assert "Cache-Control" not in first.headers  # a guess is never advertised downstream
    assert inside.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert outside.headers["Cache-Status"].startswith("chocs-cache; fwd=stale")


class TestWhatIsSent:
    def test_a_hit_carries_the_content_length_of_its_body(self, harness: Harness) -> None:
        @harness.app.get("/sized", cache_expiry=60)
        def sized(request: HttpRequest) -> HttpResponse:
            return HttpResponse("0123456789")

        miss = harness.client.get("/sized")
        hit = harness.client.get("/sized")

        assert miss.headers["Content-Length"] == hit.headers["Content-Length"] == "10"

    def test_a_304_from_storage_has_no_content_length(self, harness: Harness) -> None:
        @harness.app.get("/sized", cache_expiry=60)
        def sized(request: HttpRequest) -> HttpResponse:
            return HttpResponse("0123456789", headers={"etag": '"s"'})

        harness.client.get("/sized")
        not_modified = harness.client.get("/sized", headers={"If-None-Match": '"s"'}, status=304)

        assert "content-length" not in {name.lower() for name, _ in not_modified.headerlist}

    def test_fields_the_connection_field_names_are_not_stored(self, harness: Harness) -> None:
        @harness.app.get("/hop", cache_expiry=60)
        def hop(request: HttpRequest) -> HttpResponse:  # a handler that proxies another server's answer
            response = HttpResponse("x")
            response.headers.set("connection", "x-per-connection")
            response.headers.set("x-per-connection", "1")
            response.headers.set("x-kept", "1")
            return response

        harness.client.get("/hop")
        hit = header_lines(harness.client.get("/hop"))

        assert ("x-kept", "1") in hit
        assert {"connection", "x-per-connection"}.isdisjoint(name for name, _ in hit)


class TestRanges:
    def route(self, harness: Harness) -> None:
        @harness.app.get("/file", cache_expiry=60)
        def file(request: HttpRequest) -> HttpResponse:
            harness.count("file")
            return HttpResponse("0123456789", headers={"etag": '"f1"'})

    @pytest.mark.parametrize(
        ("asked", "content", "content_range"),
        [
            ("bytes=0-4", "01234", "bytes 0-4/10"),
            ("bytes=5-", "56789", "bytes 5-9/10"),
            ("bytes=-3", "789", "bytes 7-9/10"),
        ],
    )
    def test_a_byte_range_of_a_hit_is_a_206(
        self, harness: Harness, asked: str, content: str, content_range: str
    ) -> None:
        self.route(harness)
        harness.client.get("/file")

        partial = harness.client.get("/file", headers={"Range": asked}, status=206)

        assert partial.text == content
        assert partial.headers["Content-Range"] == content_range
        assert partial.headers["Content-Length"] == str(len(content))
        assert harness.calls["file"] == 1

    def test_a_range_beyond_the_body_is_416(self, harness: Harness) -> None:
        self.route(harness)
        harness.client.get("/file")

        response = harness.client.get("/file", headers={"Range": "bytes=10-"}, status=416)

        assert response.headers["Content-Range"] == "bytes */10"

    @pytest.mark.parametrize(("if_range", "status"), [('"f1"', 206), ('"other"', 200), ('W/"f1"', 200)])
    def test_if_range_sends_the_whole_when_the_representation_changed(
        self, harness: Harness, if_range: str, status: int
    ) -> None:
        self.route(harness)
        harness.client.get("/file")

        response = harness.client.get("/file", headers={"Range": "bytes=0-1", "If-Range": if_range})

        assert response.status_int == status

    def test_several_ranges_get_the_whole_representation(self, harness: Harness) -> None:
        self.route(harness)
        harness.client.get("/file")

        assert harness.client.get("/file", headers={"Range": "bytes=0-1, 4-5"}).status_int == 200


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
    while harness.middleware.refreshing:
        threading.Event().wait(0.005)
    refreshed = server.get("/feed")

    assert at_once[2] == b"feed v1"
    assert at_once[1]["cache-status"] == "chocs-cache; fwd=stale; ttl=-5; detail=stale-while-revalidate"
    assert refreshed[2] == b"feed v2"
    assert refreshed[1]["cache-status"].startswith("chocs-cache; hit")


class TestTargetedCacheControl:
    def route(self, harness: Harness) -> None:
        @harness.app.get("/cdn", cache=True)
        def cdn(request: HttpRequest) -> HttpResponse:
            harness.count("cdn")
            return HttpResponse("x", headers={"cache-control": "no-store", "cdn-cache-control": "max-age=600"})

    def test_cdn_cache_control_is_obeyed_only_when_on_the_target_list(self) -> None:
        default, targeted = Harness(), Harness(targeted_fields=("cdn-cache-control",))
        for harness in (default, targeted):
            self.route(harness)
            harness.client.get("/cdn")
            harness.client.get("/cdn")

        assert default.calls["cdn"] == 2  # Cache-Control: no-store decides
        assert targeted.calls["cdn"] == 1  # CDN-Cache-Control wins over Cache-Control

    def test_the_apps_own_field_speaks_to_this_cache_alone(self, harness: Harness) -> None:
        @harness.app.get("/own", cache=True)
        def own(request: HttpRequest) -> HttpResponse:
            harness.count("own")
            return HttpResponse("x", headers={"cache-control": "max-age=0", "chocs-cache-control": "max-age=600"})

        harness.client.get("/own")
        hit = harness.client.get("/own")

        assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert hit.headers["Cache-Control"] == "max-age=0"  # what browsers and CDNs are told

    def test_an_invalid_targeted_field_is_ignored(self) -> None:
        harness = Harness(targeted_fields=("cdn-cache-control",))

        @harness.app.get("/bad", cache=True)
        def bad(request: HttpRequest) -> HttpResponse:
            harness.count("bad")
            return HttpResponse("x", headers={"cache-control": "no-store", "cdn-cache-control": "max-age=600, &&&"})

        harness.client.get("/bad")
        harness.client.get("/bad")

        assert harness.calls["bad"] == 2
