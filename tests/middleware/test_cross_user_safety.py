"""No user is given another's stored response: validation across variants is opt-in and limited to
content negotiation, and a shared response computed for a request with a cookie is said out loud.

Each set-up has two users who differ only in what they send; the handler answers 304 to any
``If-None-Match`` that names its one version tag, as docs/conditional-requests.md recommends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from chocs import HttpRequest, HttpResponse, HttpStatus

from tests.conftest import Harness


def account_page(
    harness: Harness, user_field: str, *, etag: str | None = '"v1"', vary: str | None = None, **keywords: object
) -> list[str | None]:
    """``/account``: the page of the user named by ``user_field``, with one version tag for every
    user's page (a handler's habit, not a licence to leak). Returns the ``If-None-Match`` of each run."""
    asked: list[str | None] = []

    @harness.app.get("/account", **({"cache_expiry": 600} | keywords))
    def account(request: HttpRequest) -> HttpResponse:
        condition = str(request.headers.get("if-none-match") or "") or None
        asked.append(condition)
        headers: dict[str, str | Sequence[str]] = {} if etag is None else {"etag": etag}
        if vary is not None:
            headers["vary"] = vary
        if condition is not None and (etag is None or etag.removeprefix("W/") in condition):
            return HttpResponse("", HttpStatus.NOT_MODIFIED, headers=headers)
        return HttpResponse(f"account of {request.headers.get(user_field)}", headers=headers)

    return asked


SET_UPS = {
    "cache_vary names an API key": ("x-api-key", {"cache_vary": ("x-api-key",)}, {}),
    "a gateway's user id in cache_vary": ("x-user-id", {"cache_vary": ("accept", "x-user-id")}, {}),
    "the handler's own Vary": ("x-api-key", {}, {"vary": "X-Api-Key"}),
    "a weak entity tag": ("x-api-key", {"cache_vary": ("x-api-key",)}, {"etag": 'W/"v1"'}),
    "a 304 without an entity tag": ("x-api-key", {"cache_vary": ("x-api-key",)}, {"etag": None}),
}


@pytest.mark.parametrize("set_up", SET_UPS)
def test_a_second_user_gets_their_own_page_not_the_one_stored_for_the_first(
    storage_harness: Harness, set_up: str
) -> None:
    field, keywords, answer = SET_UPS[set_up]
    asked = account_page(storage_harness, field, **keywords, **answer)  # type: ignore[arg-type]

    alice = storage_harness.client.get("/account", headers={field: "alice"})
    bob = storage_harness.client.get("/account", headers={field: "bob"})
    bob_again = storage_harness.client.get("/account", headers={field: "bob"})

    assert alice.text == "account of alice"
    assert bob.text == bob_again.text == "account of bob"
    assert asked == [None, None]  # the handler was never asked to confirm alice's page for bob
    assert bob.headers["Cache-Status"] == "chocs-cache; fwd=vary-miss; fwd-status=200; stored"


def test_by_default_a_client_asking_for_html_is_not_given_the_json_stored_for_another(storage_harness: Harness) -> None:
    asked: list[str | None] = []

    @storage_harness.app.get("/users/1", cache_expiry=600)  # the default vary: accept, accept-language
    def user(request: HttpRequest) -> HttpResponse:
        asked.append(str(request.headers.get("if-none-match") or "") or None)
        if request.headers.get("if-none-match"):
            return HttpResponse("", HttpStatus.NOT_MODIFIED, headers={"etag": '"v7"'})  # one tag per version
        if "html" in str(request.headers.get("accept") or ""):
            return HttpResponse("<p>Bob</p>", headers={"etag": '"v7"', "content-type": "text/html"})
        return HttpResponse('{"name": "Bob"}', headers={"etag": '"v7"', "content-type": "application/json"})

    storage_harness.client.get("/users/1", headers={"Accept": "application/json"})
    page = storage_harness.client.get("/users/1", headers={"Accept": "text/html"})

    assert (page.text, page.headers["Content-Type"]) == ("<p>Bob</p>", "text/html")
    assert asked == [None, None]


@pytest.mark.parametrize("vary", [("x-api-key",), ("accept", "x-user-id"), ("cookie",), ("authorization",)])
def test_opting_in_on_a_route_that_varies_on_more_than_negotiation_is_refused_at_attach(
    harness: Harness, vary: tuple[str, ...]
) -> None:
    account_page(harness, "x-api-key", cache_vary=vary, cache_validate_variants=True)

    with pytest.raises(ValueError, match=r"cache_validate_variants on route '/account' needs a cache_vary of Accept"):
        harness.middleware.attach(harness.app)


def test_opted_in_a_handler_whose_vary_names_another_field_is_never_asked_across_it(storage_harness: Harness) -> None:
    asked = account_page(storage_harness, "x-api-key", vary="X-Api-Key", cache_validate_variants=True)

    storage_harness.client.get("/account", headers={"X-Api-Key": "alice"})
    bob = storage_harness.client.get("/account", headers={"X-Api-Key": "bob"})

    assert bob.text == "account of bob"
    assert asked == [None, None]


def test_opted_in_a_304_without_an_entity_tag_confirms_nothing(harness: Harness) -> None:
    account_page(harness, "accept-language", etag=None, cache_validate_variants=True)
    harness.client.get("/account", headers={"Accept-Language": "en"})

    french = harness.client.get("/account", headers={"Accept-Language": "fr"})

    assert french.text == "account of fr"
    assert french.headers["Cache-Status"] == "chocs-cache; fwd=vary-miss; fwd-status=200; stored"


def test_opted_in_negotiation_still_confirms_the_response_a_304_names(harness: Harness) -> None:
    asked = account_page(harness, "accept-language", cache_validate_variants=True)
    harness.client.get("/account", headers={"Accept-Language": "en"})

    french = harness.client.get("/account", headers={"Accept-Language": "fr"})

    assert asked == [None, '"v1"']
    assert french.text == "account of en"  # the handler said the English page is the French one too
    assert french.headers["Cache-Status"] == "chocs-cache; fwd=vary-miss; fwd-status=304; stored"


class TestAResponseSharedAcrossCookies:
    def dashboard(self, harness: Harness) -> None:
        # Declared keying: observed keying keys on the cookie the handler reads (tests/adapters/test_observed_keys.py).
        @harness.app.get("/dashboard", cache_expiry=60, cache_keying="declared")
        def dashboard(request: HttpRequest) -> HttpResponse:
            return HttpResponse(f"dashboard of {request.headers.get('cookie')}")

    def test_is_said_once_per_route_with_the_two_ways_to_key_it(
        self, harness: Harness, cache_log: pytest.LogCaptureFixture
    ) -> None:
        self.dashboard(harness)

        for session in ("a", "b", "c"):
            harness.client.get("/dashboard", headers={"Cookie": f"session={session}"})

        warnings = [record.getMessage() for record in cache_log.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "route /dashboard" in warnings[0] and "a Cookie" in warnings[0]
        assert 'cache_control="private"' in warnings[0] and 'cache_vary=("cookie", ...)' in warnings[0]

    def test_is_not_said_when_the_route_keys_on_the_cookie(
        self, harness: Harness, cache_log: pytest.LogCaptureFixture
    ) -> None:
        @harness.app.get("/private", cache_expiry=60, cache_control="private")
        def private(request: HttpRequest) -> HttpResponse:
            return HttpResponse(f"page of {request.headers.get('cookie')}")

        @harness.app.get("/per-cookie", cache_expiry=60, cache_vary=("cookie",))
        def per_cookie(request: HttpRequest) -> HttpResponse:
            return HttpResponse(f"page of {request.headers.get('cookie')}")

        @harness.app.get("/anonymous", cache_expiry=60)
        def anonymous(request: HttpRequest) -> HttpResponse:
            return HttpResponse("the same for everyone")

        for path in ("/private", "/per-cookie"):
            harness.client.get(path, headers={"Cookie": "session=a"})
        harness.client.get("/anonymous")

        assert not [record for record in cache_log.records if record.levelno >= logging.WARNING]
