"""``policy``: middleware options and route keywords checked once, and the credentials rule as a table."""

from __future__ import annotations

from typing import Any

import pytest
from chocs import HttpMethod, HttpStatus

from chocs_middleware.cache.entries import StoredResponse, VaryRecipe
from chocs_middleware.cache.policy import GroupNames, Keeping, RoutePolicy, build_options, build_policy

DEFAULTS: dict[str, Any] = {"max_body_size": 10, "honour_request_cache_control": False, "lock_timeout": 1.0}


def options(**changes: Any) -> Any:
    settings = {
        "vary": ("accept",),
        "safe_methods": (HttpMethod.GET, HttpMethod.HEAD),
        "successful_responses": (HttpStatus.OK,),
        **DEFAULTS,
        **changes,
    }
    vary, safe, statuses = settings.pop("vary"), settings.pop("safe_methods"), settings.pop("successful_responses")
    return build_options(vary, safe, statuses, **settings)


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


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"max_body_size": -1}, ValueError, "CacheMiddleware(max_body_size=...) must be 0 or more bytes"),
        ({"max_body_size": 1.5}, ValueError, "CacheMiddleware(max_body_size=...) must be whole bytes"),
        ({"lock_timeout": 0}, ValueError, "CacheMiddleware(lock_timeout=...) must be more than 0 seconds"),
        ({"lock_timeout": True}, TypeError, "CacheMiddleware(lock_timeout=...) must be a number of seconds"),
        ({"honour_request_cache_control": "yes"}, TypeError, "must be True or False"),
        ({"successful_responses": ("200",)}, TypeError, "must hold statuses"),
        ({"safe_methods": (HttpMethod.POST,)}, ValueError, "may only contain GET and HEAD"),
    ],
)
def test_middleware_options_are_checked_with_a_clear_message(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        options(**changes)

    assert message in str(raised.value)


@pytest.mark.parametrize("safe_methods", [("GET", "HEAD"), ["GET"], "GET", (HttpMethod.GET,)])
def test_safe_methods_may_be_given_as_names(safe_methods: Any) -> None:
    assert options(safe_methods=safe_methods).safe_methods <= {"GET", "HEAD"}


def test_statuses_may_be_ints_or_chocs_statuses() -> None:
    assert options(successful_responses=(200, HttpStatus.CREATED)).successful_statuses == {200, 201}


def test_group_names_are_formatted_with_the_parsed_path_parameters() -> None:
    names = GroupNames("/users/{user_id}/posts/{draft}", "cache_groups", ("users", "user:{user_id}", "draft:{draft}"))

    assert names.names({"user_id": 1, "draft": True}, request=None) == ("users", "user:1", "draft:true")


def test_one_string_is_one_group_not_one_per_character() -> None:
    assert GroupNames("/users", "cache_groups", "users").names({}, request=None) == ("users",)


def test_a_function_names_groups_from_the_request() -> None:
    one = GroupNames("/x", "cache_invalidates", lambda request: f"group-{request}")
    many = GroupNames("/x", "cache_invalidates", lambda request: ["a", "b", "a"])

    assert one.names({}, request=7) == ("group-7",)
    assert many.names({}, request=7) == ("a", "b")
