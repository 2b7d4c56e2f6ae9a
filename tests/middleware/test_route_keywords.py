"""Route keywords and middleware options: mistakes fail loudly, naming the route and the keyword."""

from __future__ import annotations

import logging
import re

import pytest
from chocs import Application, HttpMethod, HttpRequest, HttpResponse

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage, InMemoryCacheStorage
from tests.conftest import Harness


def first_request(path: str, **keywords: object) -> HttpResponse:
    app = Application(CacheMiddleware(InMemoryCacheStorage()))

    @app.get(path, **keywords)
    def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    return app(HttpRequest(HttpMethod.GET, path))


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        (
            {"cache_expiry": "ten"},
            TypeError,
            "cache_expiry on route '/bad' must be a whole number of seconds",
        ),
        ({"cache_expiry": True}, TypeError, "cache_expiry on route '/bad'"),
        ({"cache_expiry": -1}, ValueError, "cache_expiry on route '/bad' must be 0 or more"),
        ({"cache_expiry": 0.5}, ValueError, "cache_expiry on route '/bad' must be whole seconds"),
        ({"cache": "yes"}, TypeError, "cache on route '/bad' must be True or False"),
        ({"cache_expiry": 5, "cache_control": "protected"}, ValueError, "cache_control on route '/bad'"),
        ({"cache_expiry": 5, "cache_control": 1}, TypeError, "cache_control on route '/bad'"),
        ({"cache_expiry": 5, "cache_vary": 3}, TypeError, "cache_vary on route '/bad'"),
        ({"cache_expiry": 5, "cache_vary": ("accept", 3)}, TypeError, "cache_vary on route '/bad'"),
        ({"cache_expiry": 5, "cache_vary": ("bad header",)}, ValueError, "not a valid header name"),
        ({"cache_expiry": 5, "cache_vary": ("*",)}, ValueError, 'cannot contain "*"'),
        (
            {"cache_expire": 5},
            ValueError,
            "unknown keyword cache_expire on route '/bad'; did you mean cache_expiry?",
        ),
    ],
)
def test_a_wrong_keyword_fails_naming_route_and_keyword(
    keywords: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        first_request("/bad", **keywords)


def test_a_set_of_single_characters_for_cache_vary_shows_the_right_spelling() -> None:
    with pytest.raises(ValueError) as raised:
        first_request("/users", cache_expiry=5, cache_vary=set("accept-language"))

    assert "cache_vary on route '/users'" in str(raised.value)
    assert 'cache_vary=("accept-language",)' in str(raised.value)


@pytest.mark.parametrize(
    "cache_vary",
    [("accept-language",), ["accept-language"], {"accept-language"}, "accept-language", "Accept-Language"],
)
def test_cache_vary_takes_a_tuple_list_set_or_string(cache_vary: object) -> None:
    harness = Harness()

    @harness.app.get("/hello", cache_expiry=60, cache_vary=cache_vary)
    def hello(request: HttpRequest) -> HttpResponse:
        harness.count("hello")
        return HttpResponse(str(request.headers.get("accept-language")))

    for language in ("en", "de", "en"):
        harness.client.get("/hello", headers={"Accept-Language": language})

    assert harness.calls["hello"] == 2


def test_cache_vary_string_may_list_several_headers() -> None:
    harness = Harness()

    @harness.app.get("/hello", cache_expiry=60, cache_vary="accept, x-tenant")
    def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse("x")

    assert harness.client.get("/hello").headers["Vary"] == "accept, x-tenant"


def test_a_whole_float_expiry_is_accepted() -> None:
    assert first_request("/ok", cache_expiry=10.0).headers["cache-control"] == "max-age=10"


def test_a_wrong_keyword_through_wsgi_is_a_500_and_an_error_log(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()

    @harness.app.get("/bad", cache_expiry="ten")
    def bad(request: HttpRequest) -> HttpResponse:
        return HttpResponse("never")

    with caplog.at_level(logging.ERROR, logger="chocs_middleware.cache"):
        response = harness.client.get("/bad", expect_errors=True)

    assert response.status_int == 500
    assert "cache_expiry on route '/bad'" in caplog.text


def test_a_storage_class_instead_of_an_instance_is_refused_at_construction() -> None:
    with pytest.raises(TypeError, match=r"got the class CollectableInMemoryCacheStorage; write "):
        CacheMiddleware(CollectableInMemoryCacheStorage)  # type: ignore[arg-type]


def test_an_object_that_is_not_a_storage_is_refused_at_construction() -> None:
    with pytest.raises(TypeError, match=r"needs a storage with get\(item_id\) and set\(item\)"):
        CacheMiddleware(object())  # type: ignore[arg-type]


def test_middleware_cache_vary_is_validated_at_construction() -> None:
    with pytest.raises(ValueError, match=re.escape('cache_vary=("accept-language",)')):
        CacheMiddleware(InMemoryCacheStorage(), cache_vary=set("accept-language"))


def test_safe_methods_may_only_be_get_and_head() -> None:
    with pytest.raises(ValueError, match="may only contain GET and HEAD"):
        CacheMiddleware(InMemoryCacheStorage(), safe_methods=(HttpMethod.GET, HttpMethod.POST))


@pytest.mark.parametrize(("size", "error"), [(-1, ValueError), ("1MB", TypeError)])
def test_max_body_size_must_be_a_byte_count(size: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_body_size"):
        CacheMiddleware(InMemoryCacheStorage(), max_body_size=size)


def test_other_route_attributes_are_left_to_their_owners(harness: Harness) -> None:
    @harness.app.get("/tagged", cache_expiry=60, auth_required=True, tags=["x"])
    def tagged(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    assert harness.client.get("/tagged").status_int == 200


def test_a_wrong_keyword_is_logged_once_however_often_the_route_is_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()

    @harness.app.get("/bad", cache_expiry="ten")
    def bad(request: HttpRequest) -> HttpResponse:
        return HttpResponse("never")

    with caplog.at_level(logging.ERROR, logger="chocs_middleware.cache"):
        statuses = {harness.client.get("/bad", expect_errors=True).status_int for _ in range(100)}

    assert statuses == {500}
    assert caplog.text.count("cache_expiry on route '/bad'") == 1


def first_write(path: str, **keywords: object) -> HttpResponse:
    app = Application(CacheMiddleware(InMemoryCacheStorage()))

    @app.patch(path, **keywords)
    def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("")

    return app(HttpRequest(HttpMethod.PATCH, path.replace("{user_id}", "1")))


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        (
            {"cache_expiry": 5, "cache_groups": ("user:{id}",)},
            ValueError,
            "cache_groups on route '/users/{user_id}': 'user:{id}' uses {id}; only the route's path parameters "
            "can be named, as {name} (its parameters: user_id)",
        ),
        (
            {"cache_expiry": 5, "cache_groups": ("user:{user_id!r}",)},
            ValueError,
            "'user:{user_id!r}' uses {user_id!r}",
        ),
        (
            {"cache_expiry": 5, "cache_groups": ("{user_id.__class__}",)},
            ValueError,
            "uses {user_id.__class__}",
        ),
        ({"cache_expiry": 5, "cache_groups": ("user:{",)}, ValueError, "'user:{' is not a valid template"),
        ({"cache_expiry": 5, "cache_groups": 7}, TypeError, "cache_groups on route '/users/{user_id}' must be group"),
        ({"cache_expiry": 5, "cache_groups": ("a", 7)}, TypeError, "must contain strings, got 7"),
        ({"cache_groups": ("users",)}, ValueError, "cache_groups on route '/users/{user_id}' needs cache_expiry"),
        (
            {"cache_expiry": 5, "cache_invalidates": ("users",)},
            ValueError,
            "cache_invalidates on route '/users/{user_id}' has no effect on a safe method",
        ),
        ({"cache_max_age": 5}, ValueError, "cache_max_age on route '/users/{user_id}' needs cache_expiry"),
        ({"cache_expiry": 5, "cache_max_age": -1}, ValueError, "cache_max_age on route '/users/{user_id}' must be"),
        (
            {"cache_expiry": 5, "cache_group": ("users",)},
            ValueError,
            "unknown keyword cache_group on route '/users/{user_id}'; did you mean cache_groups?",
        ),
    ],
)
def test_a_wrong_group_or_max_age_keyword_fails_naming_route_and_keyword(
    keywords: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        first_request("/users/{user_id}", **keywords)


def test_cache_groups_on_a_write_route_points_to_cache_invalidates() -> None:
    with pytest.raises(ValueError, match=re.escape("cache_groups on route '/users/{user_id}' has no effect")):
        first_write("/users/{user_id}", cache_groups=("users",))


def test_cache_invalidates_may_name_the_routes_parameters() -> None:
    assert first_write("/users/{user_id}", cache_invalidates=("users", "user:{user_id}")).status_code == 200


def test_a_cache_invalidates_function_that_returns_no_names_fails_before_the_write(harness: Harness) -> None:
    @harness.app.post("/things", cache_invalidates=lambda request: 42)
    def create(request: HttpRequest) -> HttpResponse:
        harness.count("create")
        return HttpResponse("", 201)

    response = harness.client.post("/things", expect_errors=True)

    assert response.status_int == 500
    assert harness.calls["create"] == 0  # nothing was changed that the cache could not invalidate


def test_a_failing_cache_groups_function_stores_nothing_and_says_so(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    @harness.app.get("/things", cache_expiry=60, cache_groups=lambda request: [None])
    def things(request: HttpRequest) -> HttpResponse:
        harness.count("things")
        return HttpResponse("things")

    first = harness.client.get("/things")
    harness.client.get("/things")

    assert first.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; detail=groups-failed"
    assert harness.calls["things"] == 2
    assert "cache_groups of route /things failed" in caplog.text


@pytest.mark.parametrize(("value", "error"), [("", ValueError), ("api.example.com/v1", ValueError), (8080, TypeError)])
def test_canonical_host_must_be_a_host_name_or_a_function(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=re.escape("CacheMiddleware(canonical_host=...) must be a host name")):
        CacheMiddleware(InMemoryCacheStorage(), canonical_host=value)
