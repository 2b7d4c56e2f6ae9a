"""What a chocs handler reads of its request is recorded while it runs, and only then
(adapters/chocs/observing.py): every way chocs offers to read headers, cookies and the query."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import copy
from typing import Any

import pytest
from chocs import HttpRequest

from chocs_middleware.cache.adapters.chocs.observing import give_back, observe
from chocs_middleware.cache.decisions.observed import ReadInputs


def request() -> HttpRequest:
    return HttpRequest(
        "GET",
        "/search",
        query_string="q=shoes&page=2&tags[]=a",
        headers={"X-Tenant": "a", "Cookie": "session=alice; theme=dark", "Accept": "text/html"},
    )


def read_by(handler: Callable[[HttpRequest], Any]) -> ReadInputs:
    made = request()
    recorder, originals = observe(made)
    try:
        handler(made)
    finally:
        read = give_back(made, recorder, originals)
    return read


@pytest.mark.parametrize(
    ("handler", "headers"),
    [
        (lambda r: r.headers.get("x-tenant"), {"x-tenant"}),
        (lambda r: r.headers["X-Tenant"], {"x-tenant"}),
        (lambda r: "x-missing" in r.headers, {"x-missing"}),
        (lambda r: r.headers.get("HTTP_X_TENANT"), {"x-tenant"}),
        (lambda r: copy(r.headers).get("x-tenant"), {"x-tenant"}),  # a copy records as the original does
    ],
)
def test_a_header_read_by_name_is_recorded_by_its_name(
    handler: Callable[[HttpRequest], Any], headers: set[str]
) -> None:
    read = read_by(handler)

    assert read.headers == headers and not read.every_header


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: list(r.headers.items()),
        lambda r: list(r.headers.keys()),
        lambda r: list(r.headers.values()),
        lambda r: repr(r.headers),
        lambda r: r.headers == r.headers,
    ],
)
def test_seeing_every_header_is_recorded_as_such(handler: Callable[[HttpRequest], Any]) -> None:
    assert read_by(handler).every_header


@pytest.mark.parametrize(
    ("handler", "queries"),
    [
        (lambda r: r.query_string.get("q"), {"q"}),
        (lambda r: r.query_string["page"], {"page"}),
        (lambda r: "debug" in r.query_string, {"debug"}),
        (lambda r: r.query_string.get("tags"), {"tags"}),
        (lambda r: copy(r).query_string.get("q"), {"q"}),
    ],
)
def test_a_parameter_read_by_name_is_recorded_by_its_name(
    handler: Callable[[HttpRequest], Any], queries: set[str]
) -> None:
    read = read_by(handler)

    assert read.queries == queries and not read.every_query


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: dict(r.query_string),
        lambda r: {**r.query_string},
        lambda r: json.dumps(r.query_string),
        lambda r: list(r.query_string),
        lambda r: len(r.query_string),
        lambda r: str(r.query_string),
        lambda r: r.query_string.items(),
        lambda r: r.query_string.copy(),
    ],
)
def test_seeing_every_parameter_is_recorded_as_such(handler: Callable[[HttpRequest], Any]) -> None:
    assert read_by(handler).every_query


def test_a_cookie_read_by_name_is_recorded_by_its_name_and_not_the_whole_field() -> None:
    read = read_by(lambda r: (r.cookies["session"].value, "missing" in r.cookies))

    assert read.cookies == {"session", "missing"} and not read.every_cookie and not read.headers


@pytest.mark.parametrize(
    "handler", [lambda r: list(r.cookies.items()), lambda r: len(r.cookies), lambda r: repr(r.cookies)]
)
def test_seeing_every_cookie_is_recorded_as_such(handler: Callable[[HttpRequest], Any]) -> None:
    assert read_by(handler).every_cookie


def test_the_request_is_given_back_as_it_came_and_later_reads_are_not_recorded() -> None:
    made = request()
    headers, query = made.headers, made.query_string
    recorder, originals = observe(made)
    made.headers.get("x-tenant")
    view = made.headers
    read = give_back(made, recorder, originals)

    view.get("accept")
    assert made.headers is headers and made.query_string is query and made._cookies is None
    assert read.headers == {"x-tenant"} and recorder.inputs().headers == {"x-tenant"}
    assert made.cookies["session"].value == "alice"


def test_the_handler_sees_the_same_values() -> None:
    made = request()
    recorder, originals = observe(made)
    seen = (
        made.headers.get("x-tenant"),
        made.query_string.get("page"),
        made.query_string.get("tags"),
        made.cookies["theme"].value,
        str(made.query_string),
    )
    give_back(made, recorder, originals)

    assert seen == ("a", 2, ["a"], "dark", "q=shoes&page=2&tags[]=a")
