"""Every spelling of a URL that reaches the same data is reached by a write and a purge: default
ports, the case of a host, numbers chocs parses to equal values. And what a stored entry or a
response field may cost is bounded, whatever was planted or sent."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, CollectableInMemoryCacheStorage, RedisCacheStorage
from chocs_middleware.cache.semantics.groups import parse_groups
from support.redis_server import RedisServer
from tests.conftest import Harness


def doc(harness: Harness) -> None:
    @harness.app.get("/doc", cache_expiry=600)
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("doc")
        return HttpResponse("doc")


def is_hit(harness: Harness, path: str, host: str) -> bool:
    return str(harness.client.get(path, headers={"Host": host}).headers["Cache-Status"]).startswith("chocs-cache; hit")


@pytest.mark.parametrize("url", ["https://api.example.test:443/doc", "http://api.example.test:80/doc"])
def test_a_purge_of_a_url_with_its_default_port_reaches_the_host_requests_name_without_it(url: str) -> None:
    harness = Harness()
    doc(harness)
    harness.client.get("/doc", headers={"Host": "api.example.test"})

    assert harness.middleware.purge(url) == 1
    assert not is_hit(harness, "/doc", "api.example.test")


def test_a_host_is_case_folded_before_canonical_host_sees_it() -> None:
    aliases = {"www.example.com": "example.com"}  # docs/invalidation.md's alias function
    harness = Harness(canonical_host=lambda host: aliases.get(host, host))
    doc(harness)
    harness.client.get("/doc", headers={"Host": "WWW.Example.com"})

    assert is_hit(harness, "/doc", "example.com")
    assert harness.middleware.purge("https://example.com/doc") == 1
    assert not is_hit(harness, "/doc", "WWW.example.com")


def test_a_write_reaches_every_spelling_chocs_parses_to_an_equal_number() -> None:
    # The README's app: chocs hands the handler 1, 1.0 or True for these, which Python holds equal.
    harness = Harness()
    names: dict[object, str] = {1: "Bob"}

    @harness.app.get("/users/{user_id}", cache_expiry=10)
    def get_user(request: HttpRequest) -> HttpResponse:
        return HttpResponse(names[request.path_parameters["user_id"]])

    @harness.app.patch("/users/{user_id}")
    def update_user(request: HttpRequest) -> HttpResponse:
        names[request.path_parameters["user_id"]] = str(request.body.getvalue().decode())
        return HttpResponse("", 204)

    spellings = ("/users/1", "/users/1.0", "/users/true", "/users/1e0", "/users/+1")
    for path in spellings:
        harness.client.get(path)

    harness.client.patch("/users/1", "Robert")

    assert [harness.client.get(path).text for path in spellings] == ["Robert"] * len(spellings)


def test_spellings_keep_responses_of_their_own() -> None:
    harness = Harness()

    @harness.app.get("/echo/{value}", cache_expiry=600)
    def echo(request: HttpRequest) -> HttpResponse:
        return HttpResponse(repr(request.path_parameters["value"]))  # a handler may tell 1 from 1.0

    first = [harness.client.get(path).text for path in ("/echo/1", "/echo/1.0", "/echo/true")]
    again = [harness.client.get(path).text for path in ("/echo/1", "/echo/1.0", "/echo/true")]

    assert first == again == ["1", "1.0", "True"]


def cost(parse: Callable[[list[str]], object], field: str, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        parse([field])
        best = min(best, time.perf_counter() - started)
    return best


def test_parsing_a_cache_groups_field_takes_time_in_proportion_to_its_length() -> None:
    def groups(size: int) -> str:
        return ", ".join(f'"g{number}"' for number in range(size // 6))[:size].rsplit(",", 1)[0]

    small, large = groups(16 * 1024), groups(63 * 1024)
    ratio = cost(parse_groups, large) / cost(parse_groups, small)

    assert len(parse_groups([large]).groups) > 7_000
    assert ratio < 8  # about 4 for 4 times the groups; de-duplicating in a list made it 16 and more


@pytest.fixture(params=["in-memory", "redis"])
def storage(request: pytest.FixtureRequest) -> object:
    if request.param == "in-memory":
        return CollectableInMemoryCacheStorage(max_bytes=512 * 1024 * 1024)
    server: RedisServer = request.getfixturevalue("redis_server")
    # A timeout long enough to read 64 MiB: what is refused must be the entry, not a slow read.
    made = RedisCacheStorage.from_url(server.url, prefix=request.getfixturevalue("redis_prefix"), timeout=10.0)
    request.addfinalizer(made.close)
    return made


def test_a_planted_entry_larger_than_any_the_cache_stores_is_refused_when_read(
    storage: RedisCacheStorage, cache_log: pytest.LogCaptureFixture, redis_server: RedisServer
) -> None:
    harness = Harness(storage)  # max_body_size: 1 MiB
    doc(harness)
    harness.client.get("/doc")
    assert harness.client.get("/doc").headers["Cache-Status"].startswith("chocs-cache; hit")
    for item_id in planted_ids(storage):
        if item_id.startswith(("r", "v")):  # what holds the response, overwritten with 64 MiB by whoever can write
            body = b"chocs-cache 3 response\n{}\n" + b"x" * (64 * 1024 * 1024)
            plant(storage, CacheItem(item_id, body, 600), redis_server.url)

    after = harness.client.get("/doc")

    assert after.text == "doc" and after.headers["Cache-Status"].startswith("chocs-cache; fwd=")
    assert harness.calls["doc"] == 2
    assert "more than this cache stores" in cache_log.text  # refused unread, and removed


def plant(storage: object, item: CacheItem, redis_url: str) -> None:
    if isinstance(storage, CollectableInMemoryCacheStorage):
        storage.set(item)
        return
    assert isinstance(storage, RedisCacheStorage)
    value, milliseconds = storage._value(item)
    with redis.Redis.from_url(redis_url) as raw:  # with redis-py's own timeouts: 64 MiB takes a while
        raw.set(storage._key(item.id), value, px=milliseconds)


def planted_ids(storage: object) -> list[str]:
    """The ids the cache wrote, as an attacker with write access to the storage would find them."""
    if isinstance(storage, CollectableInMemoryCacheStorage):
        return list(storage._items)
    assert isinstance(storage, RedisCacheStorage)
    prefix = f"{storage._prefix}{storage._epoch}:"
    return [key.decode()[len(prefix) :] for key in storage.client.scan_iter(f"{prefix}*")]


def test_from_url_takes_cluster_false_and_refuses_an_option_redis_does_not_know(redis_server: RedisServer) -> None:
    plain = RedisCacheStorage.from_url(redis_server.url, prefix="plain:", cluster=False)
    plain.set(CacheItem("a", b"works", 60))
    assert plain.get("a").body == b"works"
    plain.close()

    with pytest.raises(TypeError, match=r"RedisCacheStorage\.from_url: .*no_such_option"):
        RedisCacheStorage.from_url(redis_server.url, prefix="plain:", no_such_option=1)
    with pytest.raises(TypeError, match=r"from_url\(cluster=\.\.\.\) must be True or False"):
        RedisCacheStorage.from_url(redis_server.url, prefix="plain:", cluster="no")
