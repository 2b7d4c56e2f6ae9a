"""Keys made of what the handler read (docs/caching.md, "Observed keys"): a stored response is only
given to requests that agree on every input its handler used, without any declaration."""

from __future__ import annotations

import logging

import pytest
from chocs import Application, HttpRequest, HttpResponse

from chocs_middleware.cache import CacheMiddleware, InMemoryCacheStorage
from support.harness import Harness

ANONYMOUS: dict[str, str] = {}


def status(response: object) -> str:
    return str(response.headers["Cache-Status"])  # type: ignore[attr-defined]


class TestAHandlerThatReadsACookie:
    """The leak a new user hits first: a dashboard that reads the session cookie, cached for a minute."""

    def dashboard(self, harness: Harness) -> None:
        @harness.app.get("/dashboard", cache_expiry=60)
        def dashboard(request: HttpRequest) -> HttpResponse:
            harness.count("dashboard")
            session = request.cookies["session"].value if "session" in request.cookies else "anonymous"
            return HttpResponse(f"dashboard of {session}")

    def test_gives_each_visitor_their_own_page(self, storage_harness: Harness) -> None:
        self.dashboard(storage_harness)
        visitors = [{"Cookie": "session=alice"}, {"Cookie": "session=bob"}, ANONYMOUS, {"Cookie": "theme=dark"}]

        first = [storage_harness.client.get("/dashboard", headers=headers).text for headers in visitors]
        again = [storage_harness.client.get("/dashboard", headers=headers) for headers in visitors]

        expected = ["dashboard of alice", "dashboard of bob", "dashboard of anonymous", "dashboard of anonymous"]
        assert first == expected
        assert [response.text for response in again] == expected
        assert all(status(response).startswith("chocs-cache; hit") for response in again)
        assert storage_harness.calls["dashboard"] == 3, "anonymous and a cookie the handler never reads share one"

    def test_keys_on_the_cookie_read_not_on_the_others(self, harness: Harness) -> None:
        self.dashboard(harness)

        harness.client.get("/dashboard", headers={"Cookie": "session=alice; _ga=1"})
        repeat = harness.client.get("/dashboard", headers={"Cookie": "_ga=2; session=alice; theme=dark"})

        assert repeat.text == "dashboard of alice" and status(repeat).startswith("chocs-cache; hit")
        assert harness.calls["dashboard"] == 1

    def test_says_vary_cookie_downstream(self, harness: Harness) -> None:
        self.dashboard(harness)

        response = harness.client.get("/dashboard", headers={"Cookie": "session=alice"})

        assert response.headers["Vary"] == "accept, accept-language, cookie"

    def test_a_cookie_read_through_the_whole_field_keys_on_every_cookie(self, harness: Harness) -> None:
        @harness.app.get("/raw", cache_expiry=60)
        def raw(request: HttpRequest) -> HttpResponse:
            harness.count("raw")
            return HttpResponse(f"raw {request.headers.get('cookie')}")

        for cookie in ("a=1", "a=2", "a=1; b=1", "a=1"):
            assert harness.client.get("/raw", headers={"Cookie": cookie}).text == f"raw {cookie}"

        assert harness.calls["raw"] == 3


def test_a_custom_header_the_handler_reads_keys_the_response(storage_harness: Harness) -> None:
    @storage_harness.app.get("/tenant", cache_expiry=60)
    def tenant(request: HttpRequest) -> HttpResponse:
        storage_harness.count("tenant")
        return HttpResponse(f"page of tenant {request.headers.get('x-tenant') or 'none'}")

    for name in ("a", "b", "a", "b"):
        assert storage_harness.client.get("/tenant", headers={"X-Tenant": name}).text == f"page of tenant {name}"
    assert storage_harness.client.get("/tenant").text == "page of tenant none"

    assert storage_harness.calls["tenant"] == 3
    assert "x-tenant" in storage_harness.client.get("/tenant").headers["Vary"]


def test_authorization_the_handler_reads_keys_the_response_per_user_without_a_declaration(harness: Harness) -> None:
    @harness.app.get("/me", cache_expiry=60, cache_control="public")
    def me(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"me: {request.headers.get('authorization')}")

    @harness.app.get("/profile", cache_expiry=60)
    def profile(request: HttpRequest) -> HttpResponse:
        harness.count("profile")
        return HttpResponse(f"profile of {request.headers.get('authorization') or 'nobody'}")

    users = [{"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}, ANONYMOUS]
    for _ in range(2):
        answers = [harness.client.get("/profile", headers=headers).text for headers in users]
        assert answers == ["profile of Bearer alice", "profile of Bearer bob", "profile of nobody"]

    assert harness.calls["profile"] == 3
    anonymous = harness.client.get("/profile")
    assert anonymous.headers["Cache-Control"].startswith("private"), "downstream caches must not share it"


class TestQueryParameters:
    def search(self, harness: Harness) -> None:
        @harness.app.get("/search", cache_expiry=60)
        def search(request: HttpRequest) -> HttpResponse:
            harness.count("search")
            return HttpResponse(f"results for {request.query_string.get('q')} page {request.query_string.get('page')}")

    def test_twenty_spellings_of_one_page_with_tracking_parameters_store_one_entry(self) -> None:
        storage = InMemoryCacheStorage()
        harness = Harness(storage)
        self.search(harness)
        tracking = ["utm_source", "utm_medium", "gclid", "fbclid", "ref"]
        spellings = [f"/search?q=shoes&page=2&{tracking[number % 5]}={number}" for number in range(10)]
        spellings += [f"/search?{tracking[number % 5]}=x&page=2&utm_campaign={number}&q=shoes" for number in range(10)]

        answers = [harness.client.get(url).text for url in spellings]

        assert answers == ["results for shoes page 2"] * 20
        assert harness.calls["search"] == 1
        assert storage.stats()["responses"] == 1

    def test_parameters_it_reads_still_tell_pages_apart(self, harness: Harness) -> None:
        self.search(harness)

        for url in ("/search?q=shoes&page=1", "/search?q=shoes&page=2", "/search?q=hats&page=1", "/search?q=shoes"):
            harness.client.get(url)
        again = harness.client.get("/search?page=2&q=shoes&utm_source=x")

        assert again.text == "results for shoes page 2" and status(again).startswith("chocs-cache; hit")
        assert harness.calls["search"] == 4

    def test_a_handler_that_reads_every_parameter_keys_on_the_whole_query(self, harness: Harness) -> None:
        @harness.app.get("/echo", cache_expiry=60)
        def echo(request: HttpRequest) -> HttpResponse:
            harness.count("echo")
            return HttpResponse(f"echo {dict(request.query_string)}")

        for url in ("/echo?a=1", "/echo?a=1&b=2", "/echo?b=2&a=1", "/echo"):
            harness.client.get(url)

        assert harness.calls["echo"] == 3

    def test_a_parameter_checked_for_presence_keys_on_whether_it_is_there(self, harness: Harness) -> None:
        @harness.app.get("/flag", cache_expiry=60)
        def flag(request: HttpRequest) -> HttpResponse:
            harness.count("flag")
            return HttpResponse("debug" if "debug" in request.query_string else "plain")

        answers = [harness.client.get(url).text for url in ("/flag", "/flag?debug=1", "/flag?x=1", "/flag?debug=")]

        assert answers == ["plain", "debug", "plain", "debug"]
        assert harness.calls["flag"] == 3


def test_a_branch_that_reads_more_keys_only_the_requests_that_take_it(harness: Harness) -> None:
    """What a handler reads may depend on what it read first: each stored response keeps its own list."""

    @harness.app.get("/report", cache_expiry=60)
    def report(request: HttpRequest) -> HttpResponse:
        harness.count("report")
        if request.query_string.get("detail") == "full":
            return HttpResponse(f"full report for {request.headers.get('x-team')}")
        return HttpResponse("summary")

    team_a, team_b = {"X-Team": "a"}, {"X-Team": "b"}
    answers = [
        harness.client.get("/report", headers=team_a).text,
        harness.client.get("/report", headers=team_b).text,
        harness.client.get("/report?detail=full", headers=team_a).text,
        harness.client.get("/report?detail=full", headers=team_b).text,
        harness.client.get("/report?detail=full", headers=team_a).text,
        harness.client.get("/report", headers=team_b).text,
    ]

    assert answers == ["summary", "summary", "full report for a", "full report for b", "full report for a", "summary"]
    assert harness.calls["report"] == 3


class TestReadingEverything:
    def headers_route(self, harness: Harness) -> None:
        @harness.app.get("/headers", cache_expiry=60)
        def headers(request: HttpRequest) -> HttpResponse:
            harness.count("headers")
            return HttpResponse(", ".join(sorted(name for name, _ in request.headers.items())))

    def test_keys_on_every_header_and_says_so(self, harness: Harness, cache_log: pytest.LogCaptureFixture) -> None:
        self.headers_route(harness)

        first = harness.client.get("/headers", headers={"X-A": "1"})
        harness.client.get("/headers", headers={"X-A": "2"})
        harness.client.get("/headers", headers={"X-A": "1", "X-B": "1"})
        repeat = harness.client.get("/headers", headers={"X-A": "1"})

        assert harness.calls["headers"] == 3
        assert status(repeat).startswith("chocs-cache; hit")
        assert "detail=keyed-on-all-headers" in status(first)
        warnings = [record.getMessage() for record in cache_log.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and "/headers" in warnings[0] and "cache_ignore" in warnings[0]

    def test_every_cookie_or_every_parameter_read_is_said_too(
        self, harness: Harness, cache_log: pytest.LogCaptureFixture
    ) -> None:
        @harness.app.get("/cookies", cache_expiry=60)
        def cookies(request: HttpRequest) -> HttpResponse:
            return HttpResponse(", ".join(sorted(request.cookies.keys())))

        @harness.app.get("/filters", cache_expiry=60)
        def filters(request: HttpRequest) -> HttpResponse:
            return HttpResponse(str(sorted(dict(request.query_string))))

        by_cookie = harness.client.get("/cookies", headers={"Cookie": "a=1"})
        by_query = harness.client.get("/filters?b=1&a=2")

        assert status(by_cookie).endswith("stored; detail=keyed-on-all-cookies")
        assert status(by_query).endswith("stored; detail=keyed-on-all-query")
        warnings = [record.getMessage() for record in cache_log.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and "/cookies" in warnings[0] and 'cache_ignore=("cookie:<name>"' in warnings[0]

    def test_is_kept_per_user(self, harness: Harness) -> None:
        self.headers_route(harness)

        alice = harness.client.get("/headers", headers={"Authorization": "Bearer alice"})
        bob = harness.client.get("/headers", headers={"Authorization": "Bearer bob"})

        assert harness.calls["headers"] == 2
        assert alice.headers["Cache-Control"].startswith("private") and bob.text == alice.text


def test_cache_ignore_leaves_inputs_read_for_logging_out_of_the_key(harness: Harness) -> None:
    @harness.app.get("/page", cache_expiry=60, cache_ignore=("header:user-agent", "cookie:_ga*", "query:utm_*"))
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        seen = (request.headers.get("user-agent"), "_ga" in request.cookies, request.query_string.get("utm_source"))
        del seen  # read for a log line, as analytics code does
        return HttpResponse("the page")

    for agent, cookie, query in (("curl", "_ga=1", "a"), ("firefox", "_gat=2", "b"), ("safari", "", "c")):
        harness.client.get(f"/page?utm_source={query}", headers={"User-Agent": agent, "Cookie": cookie})

    assert harness.calls["page"] == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (("user-agent",), "header:<name>, cookie:<name> or query:<name>"),
        (("body:x",), "header:<name>, cookie:<name> or query:<name>"),
        (("header:",), "header:<name>, cookie:<name> or query:<name>"),
        (("header:bad name",), "not a header name pattern"),
        (42, "must be a tuple of inputs"),
    ],
)
def test_a_wrong_cache_ignore_is_an_error_at_attach_naming_the_route(value: object, message: str) -> None:
    app = Application()

    @app.get("/page", cache_expiry=60, cache_ignore=value)
    def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse("x")

    with pytest.raises((ValueError, TypeError)) as raised:
        CacheMiddleware(InMemoryCacheStorage()).attach(app)

    assert "cache_ignore on route '/page'" in str(raised.value) and message in str(raised.value)


class TestDeclaredKeying:
    def test_a_route_keys_on_the_whole_query_and_the_declared_fields(self, harness: Harness) -> None:
        @harness.app.get("/legacy", cache_expiry=60, cache_keying="declared")
        def legacy(request: HttpRequest) -> HttpResponse:
            harness.count("legacy")
            return HttpResponse(f"tenant {request.headers.get('x-tenant')}")

        harness.client.get("/legacy?utm_source=a", headers={"X-Tenant": "a"})
        harness.client.get("/legacy?utm_source=b", headers={"X-Tenant": "a"})
        shared = harness.client.get("/legacy?utm_source=a", headers={"X-Tenant": "b"})

        assert harness.calls["legacy"] == 2
        assert shared.text == "tenant a", "declared keying trusts the declaration, as a proxy does"

    def test_the_middleware_option_is_every_routes_default(self) -> None:
        harness = Harness(keying="declared")

        @harness.app.get("/items", cache_expiry=60)
        def items(request: HttpRequest) -> HttpResponse:
            harness.count("items")
            return HttpResponse("items")

        harness.client.get("/items?a=1")
        harness.client.get("/items?a=2")

        assert harness.calls["items"] == 2

    @pytest.mark.parametrize("value", ["observe", "", 1])
    def test_a_wrong_value_is_an_error_naming_the_route(self, value: object) -> None:
        app = Application()

        @app.get("/page", cache_expiry=60, cache_keying=value)
        def page(request: HttpRequest) -> HttpResponse:
            return HttpResponse("x")

        with pytest.raises(ValueError, match="cache_keying on route '/page' must be \"observed\""):
            CacheMiddleware(InMemoryCacheStorage()).attach(app)


def test_debug_names_the_inputs_of_the_key_in_cache_status() -> None:
    harness = Harness(debug=True)

    @harness.app.get("/search", cache_expiry=60)
    def search(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            f"{request.query_string.get('q')} {request.cookies['s'].value if 's' in request.cookies else ''}"
        )

    response = harness.client.get("/search?q=a&utm_source=x", headers={"Cookie": "s=1"})

    assert status(response) == (
        'chocs-cache; fwd=uri-miss; fwd-status=200; stored; key="header:accept header:accept-language cookie:s query:q"'
    )
