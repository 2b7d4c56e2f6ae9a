"""A shared cache never serves one user's response to another, and lets the handler decide
per response (RFC 9111 §3, §4; docs/design.md)."""

from __future__ import annotations

import pytest
from chocs import HttpCookie, HttpHeaders, HttpRequest, HttpResponse, HttpStatus

from tests.conftest import Clock, Harness


def account_route(harness: Harness, path: str = "/account", **keywords: object) -> None:
    """A page that shows whoever the request's credentials name."""

    @harness.app.get(path, **keywords)
    def account(request: HttpRequest) -> HttpResponse:
        harness.count(path)
        user = str(request.headers.get("authorization") or request.headers.get("cookie") or "anonymous")
        return HttpResponse(f"account of {user}")


def route_with_headers(harness: Harness, path: str, headers: dict[str, str], **keywords: object) -> None:
    @harness.app.get(path, **keywords)
    def handler(request: HttpRequest) -> HttpResponse:
        harness.count(path)
        return HttpResponse(f"response {harness.calls[path]}", headers=HttpHeaders(dict(headers)))


def test_no_store_is_not_stored_and_its_header_is_kept(harness: Harness) -> None:
    route_with_headers(harness, "/live", {"cache-control": "no-store"}, cache_expiry=600)

    first = harness.client.get("/live")
    second = harness.client.get("/live")

    assert (first.text, second.text) == ("response 1", "response 2")
    assert second.headers["Cache-Control"] == "no-store"
    assert second.headers["Cache-Status"].endswith("detail=no-store")
    assert "ETag" not in second.headers


@pytest.mark.parametrize("where", ["route", "response"])
def test_private_responses_are_kept_per_user(harness: Harness, where: str) -> None:
    if where == "route":
        account_route(harness, cache_expiry=600, cache_control="private")
    else:

        @harness.app.get("/account", cache_expiry=600)
        def account(request: HttpRequest) -> HttpResponse:
            harness.count("/account")
            return HttpResponse(
                f"account of {request.headers.get('authorization')}", headers={"cache-control": "private"}
            )

    alice = harness.client.get("/account", headers={"Authorization": "Bearer alice"})
    bob = harness.client.get("/account", headers={"Authorization": "Bearer bob"})
    alice_again = harness.client.get("/account", headers={"Authorization": "Bearer alice"})
    bob_again = harness.client.get("/account", headers={"Authorization": "Bearer bob"})

    assert (alice.text, bob.text) == ("account of Bearer alice", "account of Bearer bob")
    assert (alice_again.text, bob_again.text) == (alice.text, bob.text)
    assert alice_again.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["/account"] == 2


def test_a_private_response_without_credentials_is_not_kept_but_says_private(harness: Harness) -> None:
    account_route(harness, cache_expiry=600, cache_control="private")

    harness.client.get("/account")
    response = harness.client.get("/account")

    assert harness.calls["/account"] == 2
    assert response.headers["Cache-Control"] == "private, max-age=600"
    assert response.headers["Cache-Status"].endswith("detail=private")


def test_private_responses_keyed_by_session_cookie(harness: Harness) -> None:
    account_route(harness, cache_expiry=600, cache_control="private")

    alice = harness.client.get("/account", headers={"Cookie": "session=alice"})
    bob = harness.client.get("/account", headers={"Cookie": "session=bob"})
    alice_again = harness.client.get("/account", headers={"Cookie": "session=alice"})

    assert alice_again.text == alice.text == "account of session=alice"
    assert bob.text == "account of session=bob"
    assert harness.calls["/account"] == 2


def test_a_response_to_a_request_with_authorization_is_not_shared(harness: Harness) -> None:
    account_route(harness, cache_expiry=600)

    alice = harness.client.get("/account", headers={"Authorization": "Bearer alice"})
    bob = harness.client.get("/account", headers={"Authorization": "Bearer bob"})
    anonymous = harness.client.get("/account")
    alice_again = harness.client.get("/account", headers={"Authorization": "Bearer alice"})

    assert (alice.text, bob.text, anonymous.text) == (
        "account of Bearer alice",
        "account of Bearer bob",
        "account of anonymous",
    )
    assert alice_again.text == "account of Bearer alice"
    assert alice.headers["Cache-Control"] == "private, max-age=600"
    assert harness.calls["/account"] == 3


def test_a_request_with_authorization_does_not_get_the_anonymous_entry(harness: Harness) -> None:
    account_route(harness, cache_expiry=600)
    harness.client.get("/account")

    alice = harness.client.get("/account", headers={"Authorization": "Bearer alice"})

    assert alice.text == "account of Bearer alice"
    assert harness.calls["/account"] == 2


def test_a_public_route_shares_responses_to_requests_with_authorization(harness: Harness) -> None:
    account_route(harness, cache_expiry=600, cache_control="public")

    alice = harness.client.get("/account", headers={"Authorization": "Bearer alice"})
    bob = harness.client.get("/account", headers={"Authorization": "Bearer bob"})

    assert bob.text == alice.text == "account of Bearer alice"
    assert alice.headers["Cache-Control"] == "public, max-age=600"
    assert harness.calls["/account"] == 1


@pytest.mark.parametrize("cache_control", ["public, max-age=600", "s-maxage=600"])
def test_a_response_that_says_public_or_s_maxage_is_shared(harness: Harness, cache_control: str) -> None:
    route_with_headers(harness, "/catalogue", {"cache-control": cache_control}, cache_expiry=600)

    first = harness.client.get("/catalogue", headers={"Authorization": "Bearer alice"})
    for headers in ({"Authorization": "Bearer bob"}, {}):
        assert harness.client.get("/catalogue", headers=headers).text == first.text

    assert harness.calls["/catalogue"] == 1


def test_a_route_may_vary_on_cookie_to_cache_per_session(harness: Harness) -> None:
    account_route(harness, cache_expiry=600, cache_vary=("cookie",))

    for session in ("a", "b", "a", "b"):
        assert harness.client.get("/account", headers={"Cookie": f"s={session}"}).text == f"account of s={session}"

    assert harness.calls["/account"] == 2


def test_cookies_without_vary_are_ignored_for_shared_responses(harness: Harness) -> None:
    route_with_headers(harness, "/news", {}, cache_expiry=600)

    harness.client.get("/news", headers={"Cookie": "tracking=1"})
    harness.client.get("/news", headers={"Cookie": "tracking=2"})

    assert harness.calls["/news"] == 1


@pytest.mark.parametrize("how", ["cookie jar", "raw header"])
def test_a_response_that_sets_a_cookie_is_not_replayed(harness: Harness, how: str) -> None:
    @harness.app.get("/welcome", cache_expiry=600)
    def welcome(request: HttpRequest) -> HttpResponse:
        harness.count("welcome")
        response = HttpResponse(f"welcome {harness.calls['welcome']}")
        if how == "cookie jar":
            response.cookies.append(HttpCookie("session", f"s{harness.calls['welcome']}"))
        else:
            response.headers.set("Set-Cookie", f"session=s{harness.calls['welcome']}")
        return response

    first = harness.client.get("/welcome")
    second = harness.client.get("/welcome")

    assert first.headers["Set-Cookie"].startswith("session=s1")
    assert second.headers["Set-Cookie"].startswith("session=s2")
    assert second.headers["Cache-Status"].endswith("detail=set-cookie")
    assert harness.calls["welcome"] == 2


def test_a_503_listed_as_successful_is_refused_when_the_middleware_is_made() -> None:
    # A 5xx is never stored on a cache_expiry route: listing one would only seem to do something.
    with pytest.raises(ValueError, match=r"successful_responses=\.\.\.\) holds 503: only statuses from 200 to 499"):
        Harness(successful_responses=(HttpStatus.OK, HttpStatus.SERVICE_UNAVAILABLE))


def test_a_503_is_never_stored_on_a_cache_expiry_route() -> None:
    harness = Harness()

    @harness.app.get("/busy", cache_expiry=600)
    def busy(request: HttpRequest) -> HttpResponse:
        harness.count("busy")
        return HttpResponse("try later", HttpStatus.SERVICE_UNAVAILABLE)

    for _ in range(2):
        harness.client.get("/busy", status=503)

    assert harness.calls["busy"] == 2


def test_handler_max_age_beats_the_route_expiry(harness: Harness, clock: Clock) -> None:
    route_with_headers(harness, "/short", {"cache-control": "max-age=1"}, cache_expiry=600)
    harness.client.get("/short")
    hit = harness.client.get("/short")

    clock.advance(2)
    after = harness.client.get("/short")

    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit; ttl=1")
    assert after.text == "response 2"
    assert after.headers["Cache-Control"] == "max-age=1"


def test_s_maxage_beats_max_age(harness: Harness, clock: Clock) -> None:
    route_with_headers(harness, "/cdn", {"cache-control": "max-age=1, s-maxage=100"}, cache_expiry=5)
    harness.client.get("/cdn")

    clock.advance(50)

    assert harness.client.get("/cdn").text == "response 1"


def test_expires_in_the_past_is_not_fresh(harness: Harness) -> None:
    route_with_headers(harness, "/old", {"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, cache_expiry=600)

    harness.client.get("/old")
    second = harness.client.get("/old")

    assert second.text == "response 2"
    assert second.headers["Expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert second.headers["Cache-Status"].endswith("detail=no-lifetime")


def test_expires_in_the_future_sets_the_lifetime(harness: Harness, clock: Clock) -> None:
    @harness.app.get("/until", cache_expiry=5)
    def until(request: HttpRequest) -> HttpResponse:
        harness.count("until")
        expires = clock.now + 100
        from chocs_middleware.cache.semantics.dates import format_http_date

        return HttpResponse("x", headers={"expires": format_http_date(expires)})

    harness.client.get("/until")
    clock.advance(50)

    assert harness.client.get("/until").headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["until"] == 1


def test_max_age_zero_is_not_fresh(harness: Harness) -> None:
    route_with_headers(harness, "/zero", {"cache-control": "max-age=0"}, cache_expiry=600)

    harness.client.get("/zero")
    harness.client.get("/zero")

    assert harness.calls["/zero"] == 2


def test_no_cache_is_stored_but_never_served_without_the_handler(harness: Harness) -> None:
    route_with_headers(harness, "/checked", {"cache-control": "no-cache"}, cache_expiry=600)

    first = harness.client.get("/checked")
    second = harness.client.get("/checked")

    assert (first.text, second.text) == ("response 1", "response 2")
    assert first.headers["Cache-Status"].endswith("stored")
    assert second.headers["Cache-Status"].startswith("chocs-cache; fwd=stale")


def test_cache_true_on_a_get_route_stores_what_the_handler_makes_fresh(harness: Harness, clock: Clock) -> None:
    route_with_headers(harness, "/standard", {"cache-control": "max-age=30"}, cache=True)
    route_with_headers(harness, "/silent", {}, cache=True)

    for _ in range(2):
        harness.client.get("/standard")
        harness.client.get("/silent")
    clock.advance(31)
    harness.client.get("/standard")

    assert harness.calls["/standard"] == 2
    assert harness.calls["/silent"] == 2
    assert harness.client.get("/silent").headers["Cache-Status"].endswith("detail=no-lifetime")


def test_a_write_invalidates_same_origin_location_and_content_location(harness: Harness) -> None:
    for path in ("/articles/1", "/articles/2", "/feeds/latest"):
        route_with_headers(harness, path, {}, cache_expiry=600)

    @harness.app.post("/articles", cache=True)
    def create(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            "",
            HttpStatus.CREATED,
            headers={"location": "/articles/1", "content-location": "http://localhost:80/feeds/latest"},
        )

    for path in ("/articles/1", "/articles/2", "/feeds/latest"):
        harness.client.get(path)

    harness.client.post("/articles", status=201)

    for path in ("/articles/1", "/articles/2", "/feeds/latest"):
        harness.client.get(path)
    assert harness.calls == {"/articles/1": 2, "/articles/2": 1, "/feeds/latest": 2}


def test_a_write_never_invalidates_another_hosts_uri(harness: Harness) -> None:
    route_with_headers(harness, "/articles/1", {}, cache_expiry=600)

    @harness.app.post("/moved", cache=True)
    def moved(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", HttpStatus.SEE_OTHER, headers={"location": "http://evil.example/articles/1"})

    harness.client.get("/articles/1")
    harness.client.post("/moved", status=303)
    harness.client.get("/articles/1")

    assert harness.calls["/articles/1"] == 1


class TestRequestDirectives:
    @pytest.mark.parametrize("directive", ["no-cache", "max-age=0"])
    def test_are_ignored_by_default(self, harness: Harness, directive: str) -> None:
        route_with_headers(harness, "/page", {}, cache_expiry=600)
        harness.client.get("/page")

        response = harness.client.get("/page", headers={"Cache-Control": directive})

        assert response.headers["Cache-Status"].startswith("chocs-cache; hit")
        assert harness.calls["/page"] == 1

    @pytest.mark.parametrize("directive", ["no-cache", "max-age=0", "min-fresh=1000"])
    def test_revalidate_when_honoured(self, directive: str) -> None:
        harness = Harness(honour_request_cache_control=True)
        route_with_headers(harness, "/page", {}, cache_expiry=600)
        harness.client.get("/page")

        forced = harness.client.get("/page", headers={"Cache-Control": directive})
        after = harness.client.get("/page")

        assert forced.text == after.text == "response 2"
        assert forced.headers["Cache-Status"].startswith("chocs-cache; fwd=request")
        assert harness.calls["/page"] == 2

    def test_max_age_accepts_a_young_enough_response(self, clock: Clock) -> None:
        harness = Harness(honour_request_cache_control=True, clock=clock)
        route_with_headers(harness, "/page", {}, cache_expiry=600)
        harness.client.get("/page")
        clock.advance(10)

        assert harness.client.get("/page", headers={"Cache-Control": "max-age=60"}).text == "response 1"
        assert harness.client.get("/page", headers={"Cache-Control": "max-age=5"}).text == "response 2"

    def test_no_store_keeps_the_response_out(self) -> None:
        harness = Harness(honour_request_cache_control=True)
        route_with_headers(harness, "/page", {}, cache_expiry=600)

        response = harness.client.get("/page", headers={"Cache-Control": "no-store"})
        harness.client.get("/page")

        assert response.headers["Cache-Status"].endswith("detail=request-no-store")
        assert harness.calls["/page"] == 2

    def test_only_if_cached_is_504_on_a_miss_and_a_hit_otherwise(self) -> None:
        harness = Harness(honour_request_cache_control=True)
        route_with_headers(harness, "/page", {}, cache_expiry=600)

        miss = harness.client.get("/page", headers={"Cache-Control": "only-if-cached"}, status=504)
        harness.client.get("/page")
        hit = harness.client.get("/page", headers={"Cache-Control": "only-if-cached"})

        assert "only-if-cached" in miss.text
        assert hit.text == "response 1"
        assert harness.calls["/page"] == 1


def test_a_write_with_authorization_is_not_judged_against_the_anonymous_representation(harness: Harness) -> None:
    @harness.app.get("/profile", cache_expiry=600)
    def read(request: HttpRequest) -> HttpResponse:
        user = str(request.headers.get("authorization") or "anonymous")
        return HttpResponse(f"profile of {user}", headers={"etag": f'"{user}-v1"'})

    @harness.app.put("/profile", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        harness.count("write")
        return HttpResponse("", HttpStatus.NO_CONTENT)

    harness.client.get("/profile")

    harness.client.put("/profile", "{}", headers={"Authorization": "alice", "If-Match": '"alice-v1"'}, status=204)

    assert harness.calls["write"] == 1
