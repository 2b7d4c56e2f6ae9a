"""Freshness and what a stored response serves, like an HTTP cache (RFC 9111 §4.2, §5.1, §5.3;
RFC 9110 §14, §15; RFC 9213): ``Age`` and ``Expires``, which statuses are stored, heuristic
freshness, the fields sent on a hit, ranges, targeted ``Cache-Control``; through the real WSGI path."""

from __future__ import annotations

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from chocs_middleware.cache.semantics.dates import format_http_date
from tests.conftest import Clock, Harness, header_lines

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
