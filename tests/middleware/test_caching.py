"""The caching flow for GET and HEAD (docs/design.md, "Request flow"), through the real WSGI path."""

from __future__ import annotations

import json

from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache import InMemoryCacheStorage
from tests.conftest import Clock, Harness, header_lines

BODY = json.dumps({"items": list(range(100))})


def json_route(harness: Harness, path: str = "/items", **keywords: object) -> None:
    @harness.app.get(path, **keywords)
    def handler(request: HttpRequest) -> HttpResponse:
        harness.count(path)
        return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})


def test_second_get_is_served_from_storage_without_running_the_handler(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    first = harness.client.get("/items")
    second = harness.client.get("/items")

    assert first.status_int == second.status_int == 200
    assert first.body == second.body == BODY.encode()
    assert harness.calls["/items"] == 1


def test_hit_repeats_every_header_of_the_miss_exactly_once(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    miss = header_lines(harness.client.get("/items"))
    hit = header_lines(harness.client.get("/items"))

    names = [name for name, _ in hit]
    assert len(names) == len(set(names)), f"a header is sent twice: {hit}"
    generated = {"age", "cache-status"}
    assert [line for line in hit if line[0] not in generated] == [line for line in miss if line[0] not in generated]
    assert {"content-type", "cache-control", "vary", "date", "age", "cache-status"} <= set(names)


def test_hit_carries_age_and_the_stored_date(harness: Harness, clock: Clock) -> None:
    json_route(harness, cache_expiry=60)
    miss = harness.client.get("/items")

    clock.advance(7.5)
    hit = harness.client.get("/items")

    assert hit.headers["Age"] == "7"
    assert hit.headers["Date"] == miss.headers["Date"]
    assert hit.headers["Cache-Status"] == "chocs-cache; hit; ttl=53"


def test_entry_is_not_served_after_cache_expiry(clock: Clock) -> None:
    harness = Harness(clock=clock, keep_stale=0)  # forgotten when stale (see test_stale.py for keeping)
    json_route(harness, cache_expiry=60)
    harness.client.get("/items")

    clock.advance(59)
    harness.client.get("/items")
    clock.advance(2)
    expired = harness.client.get("/items")

    assert harness.calls["/items"] == 2
    assert expired.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_middleware_adds_cache_control_vary_and_date_to_stored_responses(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    response = harness.client.get("/items")

    assert response.headers["Cache-Control"] == "max-age=60"
    assert response.headers["Vary"] == "accept, accept-language"
    assert response.headers["Date"].endswith(" GMT")


def test_route_cache_control_is_written_before_max_age(harness: Harness) -> None:
    json_route(harness, "/public", cache_expiry=30, cache_control="public")
    json_route(harness, "/private", cache_expiry=30, cache_control="private")

    assert harness.client.get("/public").headers["Cache-Control"] == "public, max-age=30"
    assert harness.client.get("/private").headers["Cache-Control"] == "private, max-age=30"


def test_handler_cache_control_and_vary_are_kept(harness: Harness) -> None:
    @harness.app.get("/own", cache_expiry=60)
    def own(request: HttpRequest) -> HttpResponse:
        return HttpResponse("x", headers={"cache-control": "max-age=5, must-revalidate", "vary": "Origin"})

    miss = harness.client.get("/own")
    hit = harness.client.get("/own")

    for response in (miss, hit):
        assert response.headers["Cache-Control"] == "max-age=5, must-revalidate"
        assert response.headers["Vary"] == "Origin"


def test_no_vary_header_is_added_when_nothing_varies() -> None:
    harness = Harness(cache_vary=())
    json_route(harness, cache_expiry=60)

    assert "Vary" not in harness.client.get("/items").headers


def test_head_is_served_from_get_entry(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    @harness.app.head("/items", cache_expiry=60)
    def head(request: HttpRequest) -> HttpResponse:
        harness.count("head")
        return HttpResponse("")

    get = harness.client.get("/items")
    head_response = harness.client.head("/items")

    generated = {"age", "cache-status"}
    assert head_response.status_int == 200
    assert head_response.body == b""
    assert [line for line in header_lines(head_response) if line[0] not in generated] == [
        line for line in header_lines(get) if line[0] not in generated
    ]
    assert head_response.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["head"] == 0


def test_head_on_a_cold_cache_runs_the_head_handler_and_stores_nothing(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    @harness.app.head("/items", cache_expiry=60)
    def head(request: HttpRequest) -> HttpResponse:
        harness.count("head")
        return HttpResponse("", headers={"content-type": "application/json"})

    head_response = harness.client.head("/items")
    get = harness.client.get("/items")

    assert head_response.status_int == 200
    assert harness.calls["head"] == 1
    assert get.body == BODY.encode()
    assert harness.calls["/items"] == 1
    assert "stored" not in head_response.headers["Cache-Status"]


def test_unrouted_path_is_404(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    response = harness.client.get("/nowhere", expect_errors=True)

    assert response.status_int == 404


def test_head_to_a_get_only_route_is_404_as_chocs_answers_it(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)
    harness.client.get("/items")

    assert harness.client.head("/items", expect_errors=True).status_int == 404


def test_route_without_cache_keywords_passes_through_untouched(harness: Harness) -> None:
    json_route(harness, "/plain")

    first = harness.client.get("/plain")
    harness.client.get("/plain")

    assert harness.calls["/plain"] == 2
    assert header_lines(first) == [("content-type", "application/json")]
    assert len(harness.storage) == 0  # type: ignore[arg-type]


def test_route_vary_headers_select_separate_variants(harness: Harness) -> None:
    @harness.app.get("/greeting", cache_expiry=60, cache_vary=("accept-language",))
    def greeting(request: HttpRequest) -> HttpResponse:
        harness.count("greeting")
        language = str(request.headers.get("accept-language"))
        return HttpResponse({"en": "hello", "de": "hallo"}.get(language, "?"))

    english = harness.client.get("/greeting", headers={"Accept-Language": "en"})
    german = harness.client.get("/greeting", headers={"Accept-Language": "de"})
    english_again = harness.client.get("/greeting", headers={"Accept-Language": "en"})
    german_again = harness.client.get("/greeting", headers={"Accept-Language": "de"})

    assert (english.text, german.text) == ("hello", "hallo")
    assert (english_again.text, german_again.text) == ("hello", "hallo")
    assert harness.calls["greeting"] == 2
    assert german.headers["Cache-Status"].startswith("chocs-cache; fwd=vary-miss")


def test_vary_values_cannot_run_into_each_other(harness: Harness) -> None:
    @harness.app.get("/page", cache_expiry=60, cache_vary=("accept", "accept-language"))
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        return HttpResponse(f"{request.headers.get('accept')}|{request.headers.get('accept-language')}")

    split = harness.client.get("/page", headers={"Accept": "text/html", "Accept-Language": "en"})
    joined = harness.client.get("/page", headers={"Accept": "text/htmlen"})

    assert split.text == "text/html|en"
    assert joined.text == "text/htmlen|"
    assert harness.calls["page"] == 2


def test_an_absent_vary_field_differs_from_an_empty_one(harness: Harness) -> None:
    @harness.app.get("/page", cache_expiry=60, cache_vary=("x-tenant",))
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        return HttpResponse(repr("x-tenant" in request.headers))

    assert harness.client.get("/page").text == "False"
    assert harness.client.get("/page", headers={"X-Tenant": ""}).text == "True"
    assert harness.calls["page"] == 2


def test_response_vary_is_added_to_the_route_vary(harness: Harness) -> None:
    @harness.app.get("/tenant", cache_expiry=60, cache_vary=("accept",))
    def tenant(request: HttpRequest) -> HttpResponse:
        harness.count("tenant")
        return HttpResponse(f"tenant {request.headers.get('x-tenant')}", headers={"vary": "Accept, X-Tenant"})

    for _ in range(2):
        assert harness.client.get("/tenant", headers={"X-Tenant": "a"}).text == "tenant a"
        assert harness.client.get("/tenant", headers={"X-Tenant": "b"}).text == "tenant b"

    assert harness.calls["tenant"] == 2


def test_vary_star_is_never_stored(harness: Harness) -> None:
    @harness.app.get("/random", cache_expiry=60)
    def random(request: HttpRequest) -> HttpResponse:
        harness.count("random")
        return HttpResponse("x", headers={"vary": "*"})

    harness.client.get("/random")
    second = harness.client.get("/random")

    assert harness.calls["random"] == 2
    assert second.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; detail=vary-star"


def test_query_parameter_order_does_not_make_a_new_entry(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    harness.client.get("/items?a=1&b=2")
    hit = harness.client.get("/items?b=2&a=1")

    assert harness.calls["/items"] == 1
    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")


def test_different_query_strings_are_different_resources_with_declared_keying(harness: Harness) -> None:
    json_route(harness, cache_expiry=60, cache_keying="declared")

    harness.client.get("/items?page=1")
    harness.client.get("/items?page=2")
    harness.client.get("/items")

    assert harness.calls["/items"] == 3


def test_host_is_part_of_the_key(harness: Harness) -> None:
    @harness.app.get("/whoami", cache_expiry=60)
    def whoami(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(request.headers.get("host")))

    assert harness.client.get("/whoami", headers={"Host": "a.example"}).text == "a.example"
    assert harness.client.get("/whoami", headers={"Host": "b.example"}).text == "b.example"


def test_header_assigned_as_a_string_is_sent_once(harness: Harness) -> None:
    @harness.app.get("/quirk", cache_expiry=60)
    def quirk(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("x")
        response.headers["X-Thing"] = "abc"  # chocs would send one line per character
        return response

    for response in (harness.client.get("/quirk"), harness.client.get("/quirk")):
        assert [value for name, value in header_lines(response) if name == "x-thing"] == ["abc"]


def test_multi_line_headers_are_kept_on_hits(harness: Harness) -> None:
    @harness.app.get("/links", cache_expiry=60)
    def links(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("x")
        response.headers.set("Link", "</a>; rel=a")
        response.headers.set("Link", "</b>; rel=b")
        return response

    miss = harness.client.get("/links")
    hit = harness.client.get("/links")

    expected = [("link", "</a>; rel=a"), ("link", "</b>; rel=b")]
    assert [line for line in header_lines(miss) if line[0] == "link"] == expected
    assert [line for line in header_lines(hit) if line[0] == "link"] == expected


def test_statuses_outside_successful_responses_are_not_stored(harness: Harness) -> None:
    @harness.app.get("/status/{code}", cache_expiry=60)
    def status(request: HttpRequest) -> HttpResponse:
        harness.count(str(request.path_parameters["code"]))
        return HttpResponse("x", HttpStatus.from_int(int(request.path_parameters["code"])))

    for code in ("201", "201", "404", "404", "202", "202"):
        harness.client.get(f"/status/{code}", expect_errors=True)

    assert harness.calls == {"201": 1, "404": 2, "202": 2}


def test_successful_responses_option_chooses_stored_statuses() -> None:
    harness = Harness(successful_responses=(HttpStatus.OK, HttpStatus.NOT_FOUND))

    @harness.app.get("/gone", cache_expiry=60)
    def gone(request: HttpRequest) -> HttpResponse:
        harness.count("gone")
        return HttpResponse("nothing here", HttpStatus.NOT_FOUND)

    harness.client.get("/gone", expect_errors=True)
    hit = harness.client.get("/gone", expect_errors=True)

    assert hit.status_int == 404
    assert harness.calls["gone"] == 1


def test_body_over_the_size_limit_is_not_stored() -> None:
    harness = Harness(max_body_size=100)

    @harness.app.get("/big", cache_expiry=60)
    def big(request: HttpRequest) -> HttpResponse:
        harness.count("big")
        return HttpResponse("x" * 101)

    @harness.app.get("/small", cache_expiry=60)
    def small(request: HttpRequest) -> HttpResponse:
        harness.count("small")
        return HttpResponse("x" * 100)

    for _ in range(2):
        big_response = harness.client.get("/big")
        harness.client.get("/small")

    assert big_response.body == b"x" * 101
    assert big_response.headers["Cache-Status"].endswith("detail=too-large")
    assert harness.calls == {"big": 2, "small": 1}


def test_cache_true_on_a_get_route_without_expiry_stores_nothing_the_handler_does_not_allow(
    harness: Harness,
) -> None:
    json_route(harness, cache=True)

    harness.client.get("/items")
    harness.client.get("/items")

    assert harness.calls["/items"] == 2


def test_cache_status_tells_a_stored_miss_from_a_hit(harness: Harness) -> None:
    json_route(harness, cache_expiry=60)

    miss = harness.client.get("/items")
    hit = harness.client.get("/items")

    assert miss.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; stored"
    assert hit.headers["Cache-Status"] == "chocs-cache; hit; ttl=60"


def test_a_clock_stepped_back_does_not_make_stored_responses_fresh_for_longer(harness: Harness, clock: Clock) -> None:
    json_route(harness, cache_expiry=60)
    harness.client.get("/items")

    clock.now -= 120  # the wall clock is stepped back two minutes (monotonic time goes on)
    answers = [harness.client.get("/items").headers["Cache-Status"] for _ in range(3)]

    assert answers[0].startswith("chocs-cache; fwd=stale")  # stored "in the future": not trusted as fresh
    assert answers[1].startswith("chocs-cache; hit; ttl=60")  # stored again, on the clock as it is now
    assert harness.calls["/items"] == 2


def test_in_memory_entries_expire_on_the_monotonic_clock_whatever_the_wall_clock_does(clock: Clock) -> None:
    storage = InMemoryCacheStorage(clock=clock)
    harness = Harness(storage, clock=clock, keep_stale=0)
    json_route(harness, cache_expiry=60)
    harness.client.get("/items")

    clock.now -= 3600  # the wall clock goes back an hour ...
    clock._jumped += 61  # ... while a minute passes
    response = harness.client.get("/items")

    assert response.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
