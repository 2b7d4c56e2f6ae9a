"""Writes reach everything they changed: whole paths, cache groups (RFC 9875), other host names.

docs/invalidation.md is the user's account of what these tests pin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.harness import Harness, LiveServer
from support.redis_server import RedisServer
from tests.user_storages import CollectableDictStorage

StartServer = Callable[[Harness], LiveServer]


class Users:
    """The README's API: a list of users and one user, whose groups the routes declare."""

    def __init__(self, harness: Harness) -> None:
        self.names = {1: "Bob", 2: "Alice"}
        self.harness = harness
        app = harness.app

        @app.get("/users", cache_expiry=600, cache_groups=("users",))
        def list_users(request: HttpRequest) -> HttpResponse:
            harness.count("list")
            return HttpResponse(", ".join(self.names.values()))

        def get_user(request: HttpRequest) -> HttpResponse:
            harness.count("user")
            name = self.names[int(request.path_parameters["user_id"])]
            language = request.headers.get("accept-language") or "-"
            return HttpResponse(f"{name} ({language}, {request.query_string})")

        for method in (app.get, app.head):  # chocs routes HEAD only to a route registered for it
            method(
                "/users/{user_id}", cache_expiry=600, cache_vary=("accept-language",), cache_groups=("user:{user_id}",)
            )(get_user)

        @app.patch("/users/{user_id}", cache_invalidates=("users", "user:{user_id}"))
        def update_user(request: HttpRequest) -> HttpResponse:
            self.names[int(request.path_parameters["user_id"])] = request.body.getvalue().decode()
            return HttpResponse("", 204)

    def all_reads(self) -> list[str]:
        client = self.harness.client
        return [
            client.get("/users").text,
            client.get("/users/1").text,
            client.get("/users/1?expand=1").text,
            client.get("/users/1", headers={"Accept-Language": "en"}).text,
            client.get("/users/1", headers={"Accept-Language": "de"}).text,
            client.head("/users/1").headers["Cache-Status"],
        ]


def test_the_readme_scenario_a_patch_reaches_the_list_the_query_strings_and_every_variant(
    storage_harness: Harness,
) -> None:
    users = Users(storage_harness)
    users.all_reads()
    assert all(status.startswith("chocs-cache; hit") for status in [users.all_reads()[-1]])
    runs_before = dict(storage_harness.calls)

    storage_harness.client.patch("/users/1", "Robert")
    after = users.all_reads()

    assert after[:5] == ["Robert, Alice", "Robert (-, )", "Robert (-, expand=1)", "Robert (en, )", "Robert (de, )"]
    assert after[5].startswith("chocs-cache; hit")  # HEAD: served from the GET entry stored just now
    assert storage_harness.calls["list"] == runs_before["list"] + 1
    assert storage_harness.calls["user"] == runs_before["user"] + 4


def test_a_write_leaves_other_groups_alone(storage_harness: Harness) -> None:
    Users(storage_harness)
    storage_harness.client.get("/users/2")

    storage_harness.client.patch("/users/1", "Robert")

    assert storage_harness.client.get("/users/2").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_the_handlers_own_fields_group_and_invalidate(storage_harness: Harness) -> None:
    harness = storage_harness
    prices = {"eur": 10}

    @harness.app.get("/prices/{currency}", cache_expiry=600)
    def price(request: HttpRequest) -> HttpResponse:
        harness.count("price")
        return HttpResponse(str(prices["eur"]), headers={"Cache-Groups": '"prices", "catalogue"'})

    @harness.app.post("/price-changes")
    def change(request: HttpRequest) -> HttpResponse:
        prices["eur"] = 12
        return HttpResponse("", 201, headers={"Cache-Group-Invalidation": '"prices"'})

    harness.client.get("/prices/eur")
    harness.client.get("/prices/usd")

    response = harness.client.post("/price-changes")

    assert response.headers["Cache-Status"] == "chocs-cache; fwd=method; fwd-status=201; detail=invalidated"
    assert harness.client.get("/prices/eur").text == "12"
    assert harness.client.get("/prices/usd").text == "12"
    assert harness.calls["price"] == 4


def test_cache_group_invalidation_on_a_response_to_get_is_ignored(harness: Harness) -> None:
    users = Users(harness)

    @harness.app.get("/report", cache=True)
    def report(request: HttpRequest) -> HttpResponse:
        return HttpResponse("report", headers={"Cache-Group-Invalidation": '"users"'})

    harness.client.get("/users")
    harness.client.get("/report")

    assert harness.client.get("/users").headers["Cache-Status"].startswith("chocs-cache; hit")
    assert users.names  # the routes are the README's


def test_a_failed_write_invalidates_no_group(harness: Harness) -> None:
    Users(harness)

    @harness.app.post("/broken")
    def broken(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 409, headers={"Cache-Group-Invalidation": '"users"'})

    harness.client.get("/users")
    harness.client.post("/broken", expect_errors=True)

    assert harness.client.get("/users").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_groups_belong_to_one_origin(harness: Harness) -> None:
    Users(harness)
    harness.client.get("/users", headers={"Host": "tenant-a.example"})
    harness.client.get("/users", headers={"Host": "tenant-b.example"})

    harness.client.patch("/users/1", "Robert", headers={"Host": "tenant-b.example"})

    assert harness.client.get("/users", headers={"Host": "tenant-a.example"}).text == "Bob, Alice"
    assert harness.client.get("/users", headers={"Host": "tenant-b.example"}).text == "Robert, Alice"
    assert harness.calls["list"] == 3


def test_a_path_is_invalidated_on_its_own_host_only(harness: Harness) -> None:
    users = Users(harness)
    harness.client.get("/users/1", headers={"Host": "a.example"})
    harness.client.get("/users/1", headers={"Host": "b.example"})

    harness.client.patch("/users/1", "Robert", headers={"Host": "b.example"})

    assert harness.client.get("/users/1", headers={"Host": "a.example"}).text == "Bob (-, )"
    assert users.names[1] == "Robert"


def test_a_canonical_host_makes_every_name_of_the_app_share_entries() -> None:
    harness = Harness(canonical_host="api.example.com")
    Users(harness)
    harness.client.get("/users/1", headers={"Host": "api.example.com"})

    from_alias = harness.client.get("/users/1", headers={"Host": "www.example.com"})
    harness.client.patch("/users/1", "Robert", headers={"Host": "internal:8000"})

    assert from_alias.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.client.get("/users/1", headers={"Host": "api.example.com"}).text == "Robert (-, )"


def test_a_canonical_host_function_maps_aliases_and_keeps_tenants_apart() -> None:
    aliases = {"www.a.example": "a.example"}
    harness = Harness(canonical_host=lambda host: aliases.get(host, host))
    Users(harness)
    harness.client.get("/users", headers={"Host": "a.example"})

    assert (
        harness.client.get("/users", headers={"Host": "www.a.example"})
        .headers["Cache-Status"]
        .startswith("chocs-cache; hit")
    )
    assert (
        harness.client.get("/users", headers={"Host": "b.example"})
        .headers["Cache-Status"]
        .startswith("chocs-cache; fwd=uri-miss")
    )


def test_a_callable_names_the_groups_from_the_request(harness: Harness) -> None:
    def team_group(request: HttpRequest) -> list[str]:
        return [f"team-{request.path_parameters['team']}"]

    @harness.app.get("/teams/{team}/members", cache_expiry=600, cache_groups=team_group)
    def members(request: HttpRequest) -> HttpResponse:
        harness.count("members")
        return HttpResponse("members")

    @harness.app.post("/teams/{team}/invitations", cache_invalidates=team_group)
    def invite(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 201)

    harness.client.get("/teams/7/members")
    harness.client.get("/teams/8/members")
    harness.client.post("/teams/7/invitations")

    assert harness.client.get("/teams/7/members").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
    assert harness.client.get("/teams/8/members").headers["Cache-Status"].startswith("chocs-cache; hit")


def test_malformed_group_fields_are_ignored_and_logged_once(
    harness: Harness, cache_log: pytest.LogCaptureFixture
) -> None:
    @harness.app.get("/loose/{id}", cache_expiry=600)
    def loose(request: HttpRequest) -> HttpResponse:
        harness.count("loose")
        return HttpResponse("x", headers={"Cache-Groups": "unquoted, (inner list)"})

    @harness.app.post("/loose")
    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 204, headers={"Cache-Group-Invalidation": '"a" "b"'})

    for _ in range(3):
        harness.client.get("/loose/1")
    statuses = [harness.client.post("/loose").headers["Cache-Status"] for _ in range(2)]

    assert harness.calls["loose"] == 1  # stored, without groups: the field was ignored
    assert statuses == ["chocs-cache; fwd=method; fwd-status=204; detail=invalidated"] * 2
    warnings = [record.getMessage() for record in cache_log.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "Cache-Groups of a response of route /loose/{id} ignored: 2 member(s) that are not Strings" in warnings[0]
    assert "Cache-Group-Invalidation of a response of route /loose ignored: not a Structured Fields List" in warnings[1]


def test_a_storage_without_groups_does_not_store_grouped_responses(cache_log: pytest.LogCaptureFixture) -> None:
    harness = Harness(CollectableDictStorage())
    Users(harness)

    first = harness.client.get("/users")
    harness.client.get("/users")

    assert first.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; detail=groups-unsupported"
    assert harness.calls["list"] == 2
    assert "CollectableDictStorage cannot keep cache groups" in cache_log.records[0].getMessage()


def test_a_response_in_too_many_groups_is_not_stored(harness: Harness) -> None:
    @harness.app.get("/crowded", cache_expiry=600)
    def crowded(request: HttpRequest) -> HttpResponse:
        harness.count("crowded")
        return HttpResponse("x", headers={"Cache-Groups": ", ".join(f'"g{number}"' for number in range(65))})

    status = harness.client.get("/crowded").headers["Cache-Status"]
    harness.client.get("/crowded")

    assert status.endswith("detail=too-many-groups")
    assert harness.calls["crowded"] == 2


def test_thirty_two_groups_of_thirty_two_characters_are_kept(harness: Harness) -> None:
    names = [f"{number:032d}" for number in range(32)]

    @harness.app.get("/many", cache_expiry=600)
    def many(request: HttpRequest) -> HttpResponse:
        harness.count("many")
        return HttpResponse("x", headers={"Cache-Groups": ", ".join(f'"{name}"' for name in names)})

    harness.client.get("/many")
    hit = harness.client.get("/many")
    removed = harness.middleware.purge_groups(names[-1])

    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert removed == 1
    assert harness.client.get("/many").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_many_query_strings_of_one_path_are_all_kept(harness: Harness) -> None:
    @harness.app.get("/search", cache_expiry=600)
    def search(request: HttpRequest) -> HttpResponse:
        harness.count("search")
        return HttpResponse(str(request.query_string))

    for page in range(100):
        harness.client.get(f"/search?page={page}")
    hits = [harness.client.get(f"/search?page={page}").headers["Cache-Status"] for page in range(100)]

    assert all(status.startswith("chocs-cache; hit") for status in hits)
    assert harness.calls["search"] == 100


def test_a_new_query_string_of_a_stored_path_is_a_uri_miss_and_a_new_language_a_vary_miss(harness: Harness) -> None:
    Users(harness)
    harness.client.get("/users/1", headers={"Accept-Language": "en"})

    other_query = harness.client.get("/users/1?expand=1", headers={"Accept-Language": "en"})
    other_language = harness.client.get("/users/1", headers={"Accept-Language": "de"})

    assert other_query.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
    assert other_language.headers["Cache-Status"].startswith("chocs-cache; fwd=vary-miss")


class HeldRead:
    """A read of a grouped route that can be held after it read the data, until released."""

    def __init__(self, harness: Harness) -> None:
        self.version = 1
        self.hold = threading.Event()
        self.taken = threading.Event()
        self.release = threading.Event()

        @harness.app.get("/articles/{id}", cache_expiry=600, cache_groups=("articles",))
        def read(request: HttpRequest) -> HttpResponse:
            version = self.version
            if self.hold.is_set():
                self.hold.clear()
                self.taken.set()
                self.release.wait(10)
            return HttpResponse(f"v{version}")

        @harness.app.post("/articles", cache_invalidates=("articles",))
        def create(request: HttpRequest) -> HttpResponse:
            self.version += 1
            return HttpResponse("", 201)

    def start(self, server: LiveServer, path: str = "/articles/1") -> tuple[threading.Thread, list[str]]:
        self.hold.set()
        statuses: list[str] = []
        reader = threading.Thread(target=lambda: statuses.append(server.get(path, HOST)[1]["cache-status"]))
        reader.start()
        assert self.taken.wait(10)
        return reader, statuses


HOST = {"Host": "api.example"}


def test_a_read_computed_before_its_group_was_invalidated_is_not_stored(live: StartServer) -> None:
    harness = Harness()
    held = HeldRead(harness)
    server = live(harness)
    reader, statuses = held.start(server)

    assert server.request("POST", "/articles", HOST, b"{}")[0] == 201
    held.release.set()
    reader.join()
    _, headers, body = server.get("/articles/1", HOST)

    assert statuses == ["chocs-cache; fwd=uri-miss; fwd-status=200; detail=invalidated-meanwhile"]
    assert body == b"v2"
    assert headers["cache-status"].startswith("chocs-cache; fwd=uri-miss")


def test_a_read_computed_before_a_purge_is_not_stored(live: StartServer) -> None:
    harness = Harness()
    held = HeldRead(harness)
    server = live(harness)
    reader, statuses = held.start(server)

    held.version += 1  # changed behind the cache's back: an operator purges
    harness.middleware.purge("/articles/1")
    held.release.set()
    reader.join()

    assert statuses[0].endswith("detail=invalidated-meanwhile")
    assert server.get("/articles/1", HOST)[2] == b"v2"


def test_across_processes_on_redis_a_group_invalidation_elsewhere_refuses_the_old_read(
    live: StartServer, redis_server: RedisServer, redis_prefix: str
) -> None:
    """Two middleware instances, each with its own connections, on one redis-server."""
    storages = [RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix) for _ in range(2)]
    reading, writing = Harness(storages[0]), Harness(storages[1])
    held, elsewhere = HeldRead(reading), HeldRead(writing)
    reader, statuses = held.start(live(reading))

    assert live(writing).request("POST", "/articles", HOST, b"{}")[0] == 201
    held.version = elsewhere.version  # one database behind both
    held.release.set()
    reader.join()
    _, headers, body = live(writing).get("/articles/1", HOST)
    for storage in storages:
        storage.close()

    assert statuses[0].endswith("detail=invalidated-meanwhile")
    assert headers["cache-status"].startswith("chocs-cache; fwd=uri-miss")
    assert body == b"v2"
