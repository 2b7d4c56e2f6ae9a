"""``CacheMiddleware.add_purge_route``: purges over HTTP, through the real WSGI path
(docs/invalidation.md, "A purge endpoint")."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CollectableInMemoryCacheStorage
from support.harness import Harness

TOKEN = "a-token-of-more-than-sixteen-bytes"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def site() -> Harness:
    harness = Harness(CollectableInMemoryCacheStorage(), purge_patterns=True)

    @harness.app.get("/users/{user_id}", cache_expiry=600, cache_groups=("users",))
    def user(request: HttpRequest) -> HttpResponse:
        harness.count("user")
        return HttpResponse(f"user {request.path_parameters['user_id']}")

    harness.middleware.add_purge_route(harness.app, "/_cache/purge", token=TOKEN)
    for number in (1, 2, 3):
        harness.client.get(f"/users/{number}", headers={"Host": "api.example"})
    return harness


def post(harness: Harness, body: Any, headers: dict[str, str] | None = None, status: int = 200) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = harness.client.post(
        "/_cache/purge", raw, headers={"Content-Type": "application/json", **(headers or BEARER)}, status=status
    )
    assert response.headers["Cache-Control"] == "no-store"
    return response.json


def is_hit(harness: Harness, path: str) -> bool:
    status = harness.client.get(path, headers={"Host": "api.example"}).headers["Cache-Status"]
    return str(status).startswith("chocs-cache; hit")


def test_urls_templates_and_groups_are_purged_and_counted(site: Harness) -> None:
    answer = post(site, {"urls": ["/users/1"], "templates": ["/users/{id}"], "groups": ["nothing"]})

    assert answer == {"dry_run": False, "removed": {"urls": 1, "templates": 2, "groups": 0}, "not_acknowledged": 0}
    assert not any(is_hit(site, f"/users/{number}") for number in (1, 2, 3))


def test_a_dry_run_counts_what_would_go_and_removes_nothing(site: Harness) -> None:
    asked = {"urls": ["/users/1"], "templates": ["/users/{user_id}"], "prefixes": ["/users/"], "groups": ["users"]}

    answer = post(site, {**asked, "dry_run": True})

    assert answer["removed"] == {"urls": 1, "templates": 3, "prefixes": 3, "groups": 3}
    assert all(is_hit(site, f"/users/{number}") for number in (1, 2, 3))


def test_a_host_names_where_paths_and_groups_are_purged(site: Harness) -> None:
    other = post(site, {"urls": ["/users/1"], "groups": ["users"], "host": "www.example"})
    own = post(site, {"urls": ["/users/1"], "host": "api.example"})

    assert other["removed"] == {"urls": 0, "groups": 0} and own["removed"] == {"urls": 1}


def test_a_host_applies_to_templates_and_prefixes_too(site: Harness) -> None:
    other = post(site, {"templates": ["/users/{id}"], "prefixes": ["/users/"], "host": "www.example"})
    own = post(site, {"templates": ["/users/{id}"], "host": "api.example"})

    assert other["removed"] == {"templates": 0, "prefixes": 0} and own["removed"] == {"templates": 3}


def test_everything(site: Harness) -> None:
    assert post(site, {"all": True})["removed"] == {"all": 3}
    assert not is_hit(site, "/users/2")


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Basic dXNlcjpwYXNz"}, 401), ({"Authorization": "Bearer wrong-token"}, 403)],
)
def test_without_the_token_nothing_is_purged(site: Harness, headers: dict[str, str], status: int) -> None:
    answer = post(site, {"all": True}, headers or {"X-Nothing": "1"}, status=status)

    assert "error" in answer
    assert is_hit(site, "/users/1")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "Expecting value"),
        ([], "must be a JSON object"),
        ({}, "nothing to purge"),
        ({"url": ["/a"]}, "unknown field 'url'"),
        ({"urls": "/a"}, "urls must be a list"),
        ({"all": "yes"}, "all must be true or false"),
        ({"prefixes": ["/users/a/b/c/"]}, "deeper than the 3 levels"),
        ({"all": True, "soft": True}, '"all" cannot be soft'),
    ],
)
def test_a_request_it_cannot_run_is_400_saying_why(site: Harness, body: Any, says: str) -> None:
    answer = post(site, body, status=400)

    assert says in answer["error"]
    assert is_hit(site, "/users/1")


def test_its_answers_are_never_stored(site: Harness) -> None:
    post(site, {"urls": ["/users/1"]})
    again = post(site, {"urls": ["/users/2"]})

    assert again["removed"] == {"urls": 1}


def test_the_token_is_never_logged(site: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post(site, {"all": True})
    post(site, {"all": True}, {"Authorization": f"Bearer {TOKEN}x"}, status=403)

    assert TOKEN not in caplog.text


@pytest.mark.parametrize("token", ["short", b"", 42])
def test_a_token_shorter_than_sixteen_bytes_is_refused_when_the_route_is_added(token: Any) -> None:
    harness = Harness()

    with pytest.raises(ValueError, match="at least 16 bytes"):
        harness.middleware.add_purge_route(harness.app, "/_cache/purge", token=token)


def test_without_a_token_the_apps_own_middleware_guards_it() -> None:
    harness = Harness()
    harness.middleware.add_purge_route(harness.app, "/ops/purge", token=None)

    answer = harness.client.post_json("/ops/purge", {"all": True}).json

    assert answer["removed"] == {"all": 0}
