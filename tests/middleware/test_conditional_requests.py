"""Conditional requests through the real WSGI path (RFC 9110 §13)."""

from __future__ import annotations

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from tests.conftest import Clock, Harness, header_lines

ETAG = '"article-v2"'
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"


def article_route(harness: Harness, **headers: str) -> None:
    @harness.app.get("/articles/{id}", cache_expiry=60)
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(
            '{"title": "t"}',
            headers={"content-type": "application/json", "etag": ETAG, "last-modified": LAST_MODIFIED, **headers},
        )

    @harness.app.head("/articles/{id}", cache_expiry=60)
    def head(request: HttpRequest) -> HttpResponse:
        harness.count("head")
        return HttpResponse("")

    @harness.app.put("/articles/{id}", cache=True)
    @harness.app.patch("/articles/{id}", cache=True)
    @harness.app.delete("/articles/{id}", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        harness.count("write")
        return HttpResponse("", HttpStatus.NO_CONTENT)


def generated_route(harness: Harness) -> None:
    @harness.app.get("/plain", cache_expiry=60)
    def plain(request: HttpRequest) -> HttpResponse:
        harness.count("plain")
        return HttpResponse("same body every time")


@pytest.mark.parametrize("if_none_match", [ETAG, f"W/{ETAG}", f'"x", {ETAG}', "*", f' "x" ,, W/{ETAG} '])
def test_every_if_none_match_form_that_matches_gives_304(harness: Harness, if_none_match: str) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.get("/articles/1", headers={"If-None-Match": if_none_match}, status=304)

    assert response.body == b""
    assert response.headers["ETag"] == ETAG
    assert harness.calls["read"] == 1


@pytest.mark.parametrize("if_none_match", ['"x"', '"x", W/"y"', '"ARTICLE-V2"'])
def test_if_none_match_that_does_not_match_gives_the_full_response(harness: Harness, if_none_match: str) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.get("/articles/1", headers={"If-None-Match": if_none_match})

    assert response.status_int == 200
    assert response.json == {"title": "t"}
    assert harness.calls["read"] == 1


def test_304_carries_the_validators_and_caching_headers_but_no_content_headers(harness: Harness) -> None:
    article_route(
        harness,
        **{
            "cache-control": "max-age=60",
            "expires": "Thu, 01 Dec 2094 16:00:00 GMT",
            "content-location": "/articles/1.json",
        },
    )
    full = harness.client.get("/articles/1")

    response = harness.client.get("/articles/1", headers={"If-None-Match": ETAG}, status=304)

    names = {name for name, _ in header_lines(response)}
    assert names == {
        "etag",
        "last-modified",
        "cache-control",
        "vary",
        "date",
        "expires",
        "content-location",
        "age",
        "cache-status",
    }
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary", "Date", "Expires", "Content-Location"):
        assert response.headers[name] == full.headers[name]
    assert "Content-Type" not in response.headers
    assert response.headers["Cache-Status"].startswith("chocs-cache; hit")


def test_a_conditional_get_on_a_cold_cache_runs_the_handler_stores_and_gets_304(harness: Harness) -> None:
    article_route(harness)

    response = harness.client.get("/articles/1", headers={"If-None-Match": ETAG}, status=304)
    hit = harness.client.get("/articles/1")

    assert response.body == b""
    assert response.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; stored"
    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 1


def test_an_etag_of_another_url_never_validates(harness: Harness) -> None:
    @harness.app.get("/things/{id}", cache_expiry=60)
    def thing(request: HttpRequest) -> HttpResponse:
        harness.count("thing")
        return HttpResponse(f"thing {request.path_parameters['id']}")

    other_etag = harness.client.get("/things/2").headers["ETag"]
    harness.client.get("/things/1")

    response = harness.client.get("/things/1", headers={"If-None-Match": other_etag})

    assert response.status_int == 200
    assert response.text == "thing 1"
    assert response.headers["ETag"] != other_etag
    assert harness.calls["thing"] == 2


def test_generated_etags_validate_and_are_equal_across_app_instances() -> None:
    first, second = Harness(), Harness()
    generated_route(first)
    generated_route(second)

    etag = first.client.get("/plain").headers["ETag"]
    response = second.client.get("/plain", headers={"If-None-Match": etag}, status=304)
    again = first.client.get("/plain", headers={"If-None-Match": etag}, status=304)

    assert etag.startswith('"') and etag.endswith('"')
    assert response.headers["ETag"] == again.headers["ETag"] == etag
    assert (first.calls["plain"], second.calls["plain"]) == (1, 1)


def test_generated_last_modified_is_the_same_on_miss_and_hit(harness: Harness, clock: Clock) -> None:
    generated_route(harness)
    miss = harness.client.get("/plain")

    clock.advance(5)
    hit = harness.client.get("/plain")

    assert miss.headers["Last-Modified"] == hit.headers["Last-Modified"] == miss.headers["Date"]


def test_if_modified_since_the_last_modified_value_gives_304(harness: Harness) -> None:
    generated_route(harness)
    last_modified = harness.client.get("/plain").headers["Last-Modified"]

    response = harness.client.get("/plain", headers={"If-Modified-Since": last_modified}, status=304)

    assert response.body == b""
    assert harness.calls["plain"] == 1


def test_if_modified_since_a_year_ago_gives_the_full_response(harness: Harness) -> None:
    generated_route(harness)
    harness.client.get("/plain")

    response = harness.client.get("/plain", headers={"If-Modified-Since": "Fri, 21 Nov 2025 06:00:00 GMT"})

    assert response.status_int == 200
    assert response.text == "same body every time"
    assert harness.calls["plain"] == 1


def test_if_none_match_wins_over_if_modified_since(harness: Harness) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.get(
        "/articles/1", headers={"If-None-Match": '"old"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    )

    assert response.status_int == 200
    assert harness.calls["read"] == 1


def test_head_with_if_none_match_gives_304(harness: Harness) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.head("/articles/1", headers={"If-None-Match": ETAG}, status=304)

    assert response.body == b""
    assert harness.calls["head"] == 0


@pytest.mark.parametrize(
    ("if_match", "status", "writes"),
    [("*", 204, 1), (f'"x", {ETAG}', 204, 1), (f"W/{ETAG}", 412, 0), ('"wrong"', 412, 0)],
)
def test_if_match_on_a_write(harness: Harness, if_match: str, status: int, writes: int) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.put("/articles/1", "{}", headers={"If-Match": if_match}, status=status)

    assert harness.calls["write"] == writes
    if status == 412:
        assert "If-Match" in response.text
        assert response.headers["Cache-Status"].endswith("detail=precondition-failed")
        assert harness.client.get("/articles/1").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_a_write_route_without_cache_keywords_is_protected_from_lost_updates_too(harness: Harness) -> None:
    @harness.app.get("/notes/{id}", cache_expiry=60, cache_vary=("accept-language",))
    def read(request: HttpRequest) -> HttpResponse:
        return HttpResponse("note", headers={"etag": ETAG})

    @harness.app.put("/notes/{id}")
    def write(request: HttpRequest) -> HttpResponse:
        harness.count("write")
        return HttpResponse("", HttpStatus.NO_CONTENT)

    harness.client.get("/notes/1")

    harness.client.put("/notes/1", "{}", headers={"If-Match": '"an older version"'}, status=412)

    assert harness.calls["write"] == 0


def test_if_match_on_a_get_that_does_not_match_is_412(harness: Harness) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.get("/articles/1", headers={"If-Match": '"old"'}, status=412)

    assert "If-Match" in response.text
    assert harness.calls["read"] == 1


def test_if_unmodified_since_on_a_write(harness: Harness) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    harness.client.patch(
        "/articles/1", "{}", headers={"If-Unmodified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"}, status=412
    )
    harness.client.patch("/articles/1", "{}", headers={"If-Unmodified-Since": LAST_MODIFIED}, status=204)

    assert harness.calls["write"] == 1


def test_if_none_match_star_on_put_with_a_stored_representation_is_412_without_the_handler(
    harness: Harness,
) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    response = harness.client.put("/articles/1", "{}", headers={"If-None-Match": "*"}, status=412)

    assert "If-None-Match" in response.text
    assert harness.calls["write"] == 0


def test_a_write_with_nothing_stored_goes_to_the_handler(harness: Harness) -> None:
    article_route(harness)

    harness.client.put("/articles/1", "{}", headers={"If-Match": '"anything"'}, status=204)

    assert harness.calls["write"] == 1


def test_a_write_against_a_stale_stored_representation_goes_to_the_handler(harness: Harness, clock: Clock) -> None:
    article_route(harness)
    harness.client.get("/articles/1")
    clock.advance(61)

    harness.client.delete("/articles/1", headers={"If-Match": '"someone-elses"'}, status=204)

    assert harness.calls["write"] == 1


def test_a_write_whose_precondition_holds_runs_and_invalidates(harness: Harness) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    harness.client.patch("/articles/1", "{}", headers={"If-Match": ETAG}, status=204)
    after = harness.client.get("/articles/1")

    assert harness.calls["write"] == 1
    assert after.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": '"unterminated'},
        {"If-None-Match": "W/ broken, ,"},
        {"If-Match": '"a" junk'},
        {"If-Modified-Since": "not a date"},
        {"If-Modified-Since": "Sun, 99 Nov 1994 08:49:37 GMT"},
        {"If-Unmodified-Since": "0"},
        {"If-None-Match": '"' + "x" * 10_000},
    ],
)
def test_malformed_conditional_headers_are_ignored_never_a_500(harness: Harness, headers: dict[str, str]) -> None:
    article_route(harness)
    harness.client.get("/articles/1")

    read = harness.client.get("/articles/1", headers=headers)
    write = harness.client.patch("/articles/1", "{}", headers=headers)

    assert read.status_int == 200
    assert read.json == {"title": "t"}
    assert write.status_int == 204
    assert (harness.calls["read"], harness.calls["write"]) == (1, 1)


def test_the_handlers_own_304_and_412_pass_through_and_are_not_stored() -> None:
    harness = Harness(successful_responses=(HttpStatus.OK, HttpStatus.NOT_MODIFIED, HttpStatus.PRECONDITION_FAILED))

    @harness.app.get("/own/{code}", cache_expiry=60)
    def own(request: HttpRequest) -> HttpResponse:
        harness.count("own")
        code = int(request.path_parameters["code"])
        return HttpResponse("", HttpStatus.from_int(code), headers={"etag": '"h"', "x-from": "handler"})

    for code in (304, 304, 412, 412):
        response = harness.client.get(f"/own/{code}", status=code)
        assert response.headers["X-From"] == "handler"
        assert response.headers["Cache-Status"].endswith("detail=status")

    assert harness.calls["own"] == 4


def test_a_response_that_sets_a_cookie_is_not_turned_into_a_304(harness: Harness) -> None:
    @harness.app.get("/login", cache_expiry=60)
    def login(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("welcome", headers={"etag": '"w"'})
        response.cookies["session"] = "abc"
        return response

    response = harness.client.get("/login", headers={"If-None-Match": '"w"'})

    assert response.status_int == 200
    assert "session=abc" in response.headers["Set-Cookie"]
