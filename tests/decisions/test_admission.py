"""``admission.admit``: whether and how a handler's answer to GET is stored (RFC 9111 §3), as a table."""

from __future__ import annotations

from typing import Any

import pytest

from chocs_middleware.cache.decisions.admission import Admitted, Refused, admit
from chocs_middleware.cache.decisions.options import MiddlewareOptions
from chocs_middleware.cache.decisions.routes import RoutePolicy, build_policy
from chocs_middleware.cache.decisions.values import UpstreamResponse
from chocs_middleware.cache.semantics.dates import format_http_date

NOW = 1_800_000_000.0
OPTIONS = MiddlewareOptions.checked(cache_vary=("accept",), successful_responses=(200, 201), max_body_size=100)


def policy(**keywords: Any) -> RoutePolicy:
    built = build_policy("/r", keywords, OPTIONS)
    assert built is not None
    return built


def upstream(status: int = 200, body: bytes = b"body", sets_cookie: bool = False, **headers: str) -> UpstreamResponse:
    fields = tuple((name.replace("_", "-"), (value,)) for name, value in headers.items())
    return UpstreamResponse(status, fields, body, len(body), sets_cookie)


def decide(answer: UpstreamResponse, route: RoutePolicy, authorization: bool = False, cookie: bool = False) -> Any:
    return admit(answer, route, NOW, has_authorization=authorization, has_credentials=authorization or cookie)


@pytest.mark.parametrize(
    ("answer", "route", "reason"),
    [
        (upstream(), policy(cache=True), "no-lifetime"),  # cache=True alone: the handler sets lifetimes
        (upstream(404), policy(cache_expiry=60), "status"),
        (upstream(206), policy(cache_expiry=60), "status"),
        (upstream(sets_cookie=True), policy(cache_expiry=60), "set-cookie"),
        (upstream(cache_control="no-store"), policy(cache_expiry=60), "no-store"),
        (upstream(vary="accept, *"), policy(cache_expiry=60), "vary-star"),
        (upstream(body=b"x" * 101), policy(cache_expiry=60), "too-large"),
        (upstream(cache_control="max-age=0"), policy(cache_expiry=60), "no-lifetime"),
        (upstream(expires="garbage"), policy(cache_expiry=60), "no-lifetime"),
        (upstream(expires=format_http_date(NOW - 10)), policy(cache_expiry=60), "no-lifetime"),
        (upstream(cache_control="private"), policy(cache_expiry=60), "private"),  # no credentials to keep it for
    ],
)
def test_answers_that_are_not_stored_say_why(answer: UpstreamResponse, route: RoutePolicy, reason: str) -> None:
    decision = decide(answer, route)

    assert isinstance(decision, Refused)
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("answer", "route", "lifetime"),
    [
        (upstream(), policy(cache_expiry=60), 60),
        (upstream(cache_control="max-age=5"), policy(cache_expiry=60), 5),
        (upstream(cache_control="max-age=5, s-maxage=50"), policy(cache_expiry=60), 50),
        (upstream(expires=format_http_date(NOW + 100)), policy(cache_expiry=60), 100),
        (upstream(cache_control="max-age=30"), policy(cache=True), 30),
        (upstream(201), policy(cache_expiry=60), 60),
    ],
)
def test_the_lifetime_comes_from_the_answer_before_the_route(
    answer: UpstreamResponse, route: RoutePolicy, lifetime: int
) -> None:
    decision = decide(answer, route)

    assert isinstance(decision, Admitted)
    assert decision.stored.lifetime == lifetime
    assert decision.stored.stored_at == NOW


@pytest.mark.parametrize(
    ("answer", "route", "authorization", "cookie", "per_credentials", "public"),
    [
        (upstream(), policy(cache_expiry=60), False, False, False, False),
        (upstream(), policy(cache_expiry=60), False, True, False, False),  # cookies do not vary by default
        (upstream(), policy(cache_expiry=60), True, False, True, False),  # RFC 9111 §3.5
        (upstream(cache_control="public"), policy(cache_expiry=60), True, False, False, True),
        (upstream(cache_control="s-maxage=60"), policy(cache_expiry=60), True, False, False, True),
        (upstream(), policy(cache_expiry=60, cache_control="public"), True, False, False, True),
        (upstream(), policy(cache_expiry=60, cache_control="private"), False, True, True, False),
        (upstream(cache_control="private"), policy(cache_expiry=60), True, False, True, False),
        (upstream(cache_control="private, public"), policy(cache_expiry=60), True, False, True, False),
    ],
)
def test_the_credentials_rule_decides_who_may_be_given_it(
    answer: UpstreamResponse, route: RoutePolicy, authorization: bool, cookie: bool, per_credentials: bool, public: bool
) -> None:
    decision = decide(answer, route, authorization, cookie)

    assert isinstance(decision, Admitted)
    assert (decision.recipe.per_credentials, decision.stored.public) == (per_credentials, public)


def test_the_cache_adds_only_what_the_handler_did_not_set_in_a_fixed_order() -> None:
    decision = decide(upstream(content_type="application/json"), policy(cache_expiry=60))

    assert isinstance(decision, Admitted)
    assert [name for name, _ in decision.added] == ["cache-control", "vary", "date", "etag", "last-modified"]
    assert dict(decision.added)["cache-control"] == ("max-age=60",)
    assert dict(decision.added)["date"] == (format_http_date(NOW),)
    assert decision.stored.headers == (("content-type", ("application/json",)), *decision.added)


def test_a_handlers_own_headers_are_kept_and_not_added_again() -> None:
    answer = upstream(cache_control="max-age=5", vary="Origin", etag='"mine"', date=format_http_date(NOW - 1))

    decision = decide(answer, policy(cache_expiry=60))

    assert isinstance(decision, Admitted)
    assert [name for name, _ in decision.added] == ["last-modified"]
    assert decision.recipe.field_names == ("accept", "origin")


def test_a_private_answer_without_credentials_still_says_private() -> None:
    decision = decide(upstream(), policy(cache_expiry=60, cache_control="private"))

    assert isinstance(decision, Refused)
    assert dict(decision.added)["cache-control"] == ("private, max-age=60",)


def test_age_and_cache_status_from_the_handler_are_not_stored() -> None:
    decision = decide(upstream(age="10", cache_status="upstream; hit"), policy(cache_expiry=60))

    assert isinstance(decision, Admitted)
    assert {"age", "cache-status"}.isdisjoint(name for name, _ in decision.stored.headers)


@pytest.mark.parametrize(
    ("cache_control", "route", "windows"),
    [
        ("", policy(cache_expiry=60, cache_stale_while_revalidate=30, cache_stale_if_error=90), (30, 90)),
        ("stale-while-revalidate=5", policy(cache_expiry=60, cache_stale_while_revalidate=30), (5, 0)),
        ("max-age=60, must-revalidate", policy(cache_expiry=60, cache_stale_if_error=90), (0, 0)),
        ("max-age=60, proxy-revalidate", policy(cache_expiry=60, cache_stale_if_error=90), (0, 0)),
        ("no-cache", policy(cache_expiry=60, cache_stale_if_error=90), (0, 0)),
        ("s-maxage=60", policy(cache_expiry=60, cache_stale_if_error=90), (0, 0)),
        ("s-maxage=60, stale-if-error=10", policy(cache_expiry=60, cache_stale_if_error=90), (0, 10)),
    ],
)
def test_stale_windows_come_from_the_answer_or_the_route_unless_forbidden(
    cache_control: str, route: RoutePolicy, windows: tuple[int, int]
) -> None:
    answer = upstream(cache_control=cache_control) if cache_control else upstream()

    decision = decide(answer, route)

    assert isinstance(decision, Admitted)
    assert (decision.stored.stale_while_revalidate, decision.stored.stale_if_error) == windows


def test_no_cache_is_stored_but_marked() -> None:
    decision = decide(upstream(cache_control="no-cache, max-age=60"), policy(cache=True))

    assert isinstance(decision, Admitted)
    assert decision.stored.no_cache


def test_answers_of_one_shape_each_get_their_own_validators_and_size_check() -> None:
    route = policy(cache_expiry=60)
    first = admit(
        upstream(body=b"one", content_type="text/plain"), route, NOW, has_authorization=False, has_credentials=False
    )
    second = admit(
        upstream(body=b"two", content_type="text/plain"), route, NOW + 5, has_authorization=False, has_credentials=False
    )
    too_large = decide(upstream(body=b"x" * 101, content_type="text/plain"), route)

    assert isinstance(first, Admitted) and isinstance(second, Admitted)
    assert first.stored.etag != second.stored.etag
    assert dict(first.added)["date"] == (format_http_date(NOW),)
    assert dict(second.added)["date"] == (format_http_date(NOW + 5),)
    assert second.stored.body == b"two" and second.stored.stored_at == NOW + 5
    assert too_large == Refused("too-large")


def test_an_answer_whose_fields_depend_on_the_clock_is_decided_at_each_time() -> None:
    route = policy(cache_expiry=60)
    answer = upstream(expires=format_http_date(NOW + 100))

    now_decision = admit(answer, route, NOW, has_authorization=False, has_credentials=False)
    later = admit(answer, route, NOW + 100, has_authorization=False, has_credentials=False)

    assert isinstance(now_decision, Admitted) and now_decision.stored.lifetime == 100
    assert later == Refused("no-lifetime")  # expired by then


def test_a_refusal_that_comes_before_the_size_is_named_first() -> None:
    route = policy(cache_expiry=60)

    assert decide(upstream(body=b"x" * 101, cache_control="no-store"), route) == Refused("no-store")
    standards = policy(cache=True)  # a 5xx is refused only after its size there
    assert decide(upstream(500, body=b"x" * 101), standards) == Refused("too-large")
    assert decide(upstream(500), standards) == Refused("status")
