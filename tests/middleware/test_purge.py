"""Purge from code: ``CacheMiddleware.purge``, ``purge_groups`` and ``purge_all`` (docs/invalidation.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, CollectableInMemoryCacheStorage, NotAcknowledged, RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Harness
from tests.user_storages import CollectableDictStorage


def catalogue(harness: Harness) -> None:
    @harness.app.get("/items/{id}", cache_expiry=600, cache_vary=("accept-language",), cache_groups=("items",))
    def item(request: HttpRequest) -> HttpResponse:
        harness.count("item")
        expanded = " expanded" if request.query_string.get("expand") else ""  # ?expand=1 is another response
        return HttpResponse(f"item {request.path_parameters['id']}{expanded}")

    @harness.app.get("/pages/{id}", cache_expiry=600)
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        return HttpResponse("page")


def status(harness: Harness, path: str, host: str = "a.example", language: str = "en") -> str:
    response = harness.client.get(path, headers={"Host": host, "Accept-Language": language})
    return str(response.headers["Cache-Status"])


def is_hit(harness: Harness, path: str, host: str = "a.example", language: str = "en") -> bool:
    return status(harness, path, host, language).startswith("chocs-cache; hit")


@pytest.fixture(params=["in-memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "in-memory":
        made = Harness()
        catalogue(made)
        yield made
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    storage = RedisCacheStorage.from_url(server.url, prefix=request.getfixturevalue("redis_prefix"))
    made = Harness(storage)
    catalogue(made)
    yield made
    storage.close()


def warm(harness: Harness) -> None:
    for host in ("a.example", "b.example"):
        for path in ("/items/1", "/items/1?expand=1", "/items/2", "/pages/1"):
            status(harness, path, host)
        status(harness, "/items/1", host, language="de")


def test_a_bare_path_is_purged_on_every_host_with_every_query_and_variant(harness: Harness) -> None:
    warm(harness)

    removed = harness.middleware.purge("/items/1")

    assert removed == 6  # on each of two hosts: two languages, and one more query string
    for host in ("a.example", "b.example"):
        assert not is_hit(harness, "/items/1", host)
        assert not is_hit(harness, "/items/1?expand=1", host)
        assert not is_hit(harness, "/items/1", host, language="de")
        assert is_hit(harness, "/items/2", host)


def test_an_absolute_url_is_purged_on_its_host_only(harness: Harness) -> None:
    warm(harness)

    removed = harness.middleware.purge("https://a.example/items/1?ignored=1")

    assert removed == 3
    assert not is_hit(harness, "/items/1", "a.example")
    assert is_hit(harness, "/items/1", "b.example")


def test_groups_are_purged_on_every_host_or_on_one(harness: Harness) -> None:
    warm(harness)

    assert harness.middleware.purge_groups("items", host="b.example") == 4
    assert is_hit(harness, "/items/2", "a.example") and not is_hit(harness, "/items/2", "b.example")

    assert harness.middleware.purge_groups("items", "no such group") == 4 + 1  # b's /items/2 stored again above
    assert not is_hit(harness, "/items/2", "a.example")
    assert is_hit(harness, "/pages/1", "a.example")


def test_purge_all_removes_everything(harness: Harness) -> None:
    warm(harness)

    removed = harness.middleware.purge_all()

    # Redis starts a new epoch in one step, whatever it holds, and so does not count what it left behind.
    assert removed == (None if isinstance(harness.storage, RedisCacheStorage) else 10)
    assert not any(
        is_hit(harness, path, host) for host in ("a.example", "b.example") for path in ("/items/2", "/pages/1")
    )


def test_a_purge_honours_the_canonical_host() -> None:
    harness = Harness(canonical_host="api.example")
    catalogue(harness)
    status(harness, "/items/1", "www.example")

    assert harness.middleware.purge("https://API.example/items/1") == 1
    assert harness.middleware.purge_groups("items", host="www.example") == 0


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("items/1", ValueError),
        ("ftp://a.example/items/1", ValueError),
        ("//a.example/items/1", ValueError),
        ("", TypeError),
        (None, TypeError),
    ],
)
def test_a_purge_of_something_that_is_not_a_url_says_what_it_needs(url: object, error: type[Exception]) -> None:
    harness = Harness()

    with pytest.raises(error, match=r"purge needs a path such as '/users/1'"):
        harness.middleware.purge(url)  # type: ignore[arg-type]


def test_purge_groups_needs_names() -> None:
    with pytest.raises(TypeError, match=r"purge_groups needs group names \(strings\), got 7"):
        Harness().middleware.purge_groups(7)  # type: ignore[arg-type]


def test_a_storage_fault_during_a_purge_is_raised() -> None:
    class Failing(CollectableInMemoryCacheStorage):
        down = False

        def set(self, item: CacheItem) -> None:
            if self.down:
                raise ConnectionError("storage down")
            super().set(item)

    storage = Failing()
    harness = Harness(storage)
    catalogue(harness)
    status(harness, "/pages/1")
    storage.down = True

    with pytest.raises(ConnectionError, match="storage down"):
        harness.middleware.purge("https://a.example/pages/1")


def test_a_storage_without_groups_purges_paths_on_the_hosts_this_process_stored_for() -> None:
    harness = Harness(CollectableDictStorage())

    @harness.app.get("/pages/{id}", cache_expiry=600)
    def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse("page")

    for host in ("a.example", "b.example"):
        status(harness, "/pages/1", host)

    assert harness.middleware.purge("/pages/1") == 2
    assert not is_hit(harness, "/pages/1", "a.example") and not is_hit(harness, "/pages/1", "b.example")
    assert harness.middleware.purge_groups("pages") == 0
    with pytest.raises(
        TypeError, match=r"purge_all needs a storage that can remove everything .* CollectableDictStorage"
    ):
        harness.middleware.purge_all()


def test_a_purge_of_a_group_of_a_thousand_responses_is_two_round_trips(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage)
    catalogue(harness)
    for number in range(1000):
        harness.client.get(f"/items/{number}")
    harness.client.get("/pages/1")
    harness.middleware.purge("/pages/1")  # a server's first call of a script also loads it (NOSCRIPT)
    raw = redis.Redis.from_url(redis_server.url)
    raw.config_resetstat()

    removed = harness.middleware.purge_groups("items", host="localhost:80")
    calls = {name: stats["calls"] for name, stats in raw.info("commandstats").items()}
    raw.close()
    storage.close()

    assert removed == 1000
    assert calls["cmdstat_evalsha"] == 2  # the marks and the list taken aside; then the thousand removed
    inside_the_scripts = {
        "cmdstat_set",
        "cmdstat_time",
        "cmdstat_type",
        "cmdstat_rename",
        "cmdstat_pexpire",
        "cmdstat_zrange",
        "cmdstat_zrem",
        "cmdstat_zcard",
        "cmdstat_del",
        "cmdstat_publish",
    }
    assert set(calls) - {"cmdstat_evalsha", *inside_the_scripts} <= {"cmdstat_config|resetstat"}


def test_a_purge_some_listening_process_did_not_acknowledge_raises_naming_how_many(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage)
    catalogue(harness)
    warm(harness)
    deaf = redis.Redis.from_url(redis_server.url).pubsub()  # type: ignore[no-untyped-call]  # never acknowledges
    deaf.subscribe(f"{redis_prefix}changes")
    try:
        with pytest.raises(
            NotAcknowledged, match="1 of 1 processes listening for changes did not acknowledge"
        ) as raised:
            harness.middleware.purge("/items/1")
        purged = not is_hit(harness, "/items/1")
    finally:
        deaf.close()
        storage.close()

    assert raised.value.removed == 6 and purged  # done in Redis all the same
