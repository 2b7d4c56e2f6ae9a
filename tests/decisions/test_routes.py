"""Route policies: route keywords checked once, and the credentials rule, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from chocs_middleware.cache.decisions.credentials import Keeping
from chocs_middleware.cache.decisions.routes import RoutePolicy, build_policy
from chocs_middleware.cache.decisions.values import StoredResponse, VaryRecipe
from tests.decisions.test_options import options


def route(**keywords: Any) -> RoutePolicy:
    built = build_policy("/r", keywords, options())
    assert built is not None
    return built


def stored(public: bool = False) -> StoredResponse:
    return StoredResponse(200, (), b"", 0.0, 60, public=public)


def test_a_route_without_cache_keywords_has_no_policy() -> None:
    assert build_policy("/r", {"auth": True}, options()) is None


@pytest.mark.parametrize(
    ("keywords", "stores", "standards_mode"),
    [
        ({"cache_expiry": 10}, True, False),
        ({"cache": True}, True, True),
        ({"cache": True, "cache_expiry": 5}, True, False),
    ],
)
def test_a_route_stores_with_an_expiry_or_cache_true(
    keywords: dict[str, Any], stores: bool, standards_mode: bool
) -> None:
    policy = route(**keywords)

    assert (policy.stores, policy.standards_mode) == (stores, standards_mode)


@pytest.mark.parametrize(
    ("control", "authorization", "per_credentials", "shared_allowed"),
    [
        (None, False, False, True),
        (None, True, True, False),
        ("public", False, False, True),
        ("public", True, False, True),
        ("private", False, True, True),
        ("private", True, True, False),
    ],
)
def test_lookup_follows_the_credentials_rule(
    control: str | None, authorization: bool, per_credentials: bool, shared_allowed: bool
) -> None:
    lookup = route(cache_expiry=10, cache_control=control).lookup(authorization)

    assert (lookup.recipe.per_credentials, lookup.shared_allowed) == (per_credentials, shared_allowed)
    assert lookup.recipe.field_names == ("accept",)


@pytest.mark.parametrize(
    ("shared_allowed", "per_credentials", "public", "may_serve"),
    [
        (True, False, False, True),  # an anonymous request, a shared response
        (False, False, False, False),  # a request with credentials never gets a plain shared response
        (False, False, True, True),  # ... unless it is explicitly shareable
        (False, True, False, True),  # one found under the request's own credentials
    ],
)
def test_a_request_with_credentials_gets_only_its_own_or_explicitly_shareable_responses(
    shared_allowed: bool, per_credentials: bool, public: bool, may_serve: bool
) -> None:
    lookup = route(cache_expiry=10).lookup(not shared_allowed)

    assert lookup.may_serve(VaryRecipe(("accept",), per_credentials), stored(public)) is may_serve


@pytest.mark.parametrize(
    ("control", "private", "shareable", "authorization", "keeping"),
    [
        (None, False, False, False, Keeping(per_credentials=False, public=False)),
        (None, False, False, True, Keeping(per_credentials=True, public=False)),
        (None, False, True, True, Keeping(per_credentials=False, public=True)),
        (None, True, True, True, Keeping(per_credentials=True, public=False)),  # private wins
        ("public", False, False, True, Keeping(per_credentials=False, public=True)),
        ("private", False, True, False, Keeping(per_credentials=True, public=False)),
    ],
)
def test_keeping_follows_the_credentials_rule(
    control: str | None, private: bool, shareable: bool, authorization: bool, keeping: Keeping
) -> None:
    assert route(cache_expiry=10, cache_control=control).keeping(private, shareable, authorization) == keeping
