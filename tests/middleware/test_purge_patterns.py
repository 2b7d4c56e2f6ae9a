"""Purge by route template and by path prefix (``CacheMiddleware(purge_patterns=True)``;
docs/invalidation.md): every path of a route, or under a prefix, on every host, with every query
string and variant; never what a read in flight computed before the purge."""

from __future__ import annotations

import threading

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import ICacheStorage, InMemoryCacheStorage, RedisCacheStorage
from support.harness import Harness, LiveServer
from support.redis_server import RedisServer

HOSTS = ("a.example", "b.example")


def site(harness: Harness) -> None:
    @harness.app.get("/users/{user_id}", cache_expiry=600, cache_vary=("accept-language",))
    def user(request: HttpRequest) -> HttpResponse:
        harness.count("user")
        page = request.query_string.get("page")
        return HttpResponse(f"user {request.path_parameters['user_id']} page {page}")

    @harness.app.get("/users/{user_id}/posts", cache_expiry=600)
    def posts(request: HttpRequest) -> HttpResponse:
        return HttpResponse("posts")

    @harness.app.get("/reports/*", cache_expiry=600)
    def report(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"report {request.path}")

    @harness.app.get("/reports", cache_expiry=600)
    def reports(request: HttpRequest) -> HttpResponse:
        return HttpResponse("reports")

    @harness.app.get("/reportsarchive", cache_expiry=600)
    def archive(request: HttpRequest) -> HttpResponse:
        return HttpResponse("archive")


def is_hit(harness: Harness, path: str, host: str = "a.example", language: str = "en") -> bool:
    response = harness.client.get(path, headers={"Host": host, "Accept-Language": language})
    return str(response.headers["Cache-Status"]).startswith("chocs-cache; hit")


def warm(harness: Harness, paths: tuple[str, ...]) -> None:
    for host in HOSTS:
        for path in paths:
            is_hit(harness, path, host)
            is_hit(harness, path, host, language="de")


USERS = ("/users/1", "/users/2?page=3", "/users/3")
REPORTS = ("/reports/1", "/reports/2024/q1", "/reports/2024/q2/detail")
OTHERS = ("/users/1/posts", "/reportsarchive")


@pytest.fixture
def harness(any_storage: ICacheStorage) -> Harness:
    made = Harness(any_storage, purge_patterns=True)
    site(made)
    return made


def test_a_template_purges_every_path_of_the_route_on_every_host(harness: Harness) -> None:
    warm(harness, USERS + OTHERS)

    removed = harness.middleware.purge("/users/{id}")  # the parameter's name does not matter

    assert removed == len(USERS) * len(HOSTS) * 2  # every path, query string, host and language
    for host in HOSTS:
        assert not any(is_hit(harness, path, host) for path in USERS)
        assert all(is_hit(harness, path, host) for path in OTHERS)


def test_a_prefix_purges_every_path_under_it_and_nothing_beside_it(harness: Harness) -> None:
    warm(harness, REPORTS + OTHERS + ("/reports",))

    removed = harness.middleware.purge_prefix("/reports/2024/")

    assert removed == 2 * len(HOSTS) * 2
    assert is_hit(harness, "/reports/1") and not is_hit(harness, "/reports/2024/q1")
    assert not is_hit(harness, "/reports/2024/q2/detail", "b.example")

    harness.middleware.purge_prefix("/reports")  # without the slash: /reports itself too

    assert not any(is_hit(harness, path) for path in ("/reports/1", "/reports"))
    assert all(is_hit(harness, path) for path in OTHERS)


def test_a_prefix_deeper_than_paths_are_listed_under_is_refused(harness: Harness) -> None:
    with pytest.raises(ValueError, match="deeper than the 3 levels"):
        harness.middleware.purge_prefix("/reports/2024/q2/detail/")
    with pytest.raises(ValueError, match="purge_all"):
        harness.middleware.purge_prefix("/")


def test_a_template_or_prefix_with_a_host_purges_on_that_host_only(harness: Harness) -> None:
    warm(harness, USERS + REPORTS)

    by_template = harness.middleware.purge("https://a.example/users/{id}")
    by_prefix = harness.middleware.purge_prefix("https://B.example:443/reports/2024/")

    assert (by_template, by_prefix) == (len(USERS) * 2, 2 * 2)
    assert not is_hit(harness, "/users/1", "a.example") and is_hit(harness, "/users/1", "b.example")
    assert not is_hit(harness, "/reports/2024/q1", "b.example") and is_hit(harness, "/reports/2024/q1", "a.example")


@pytest.mark.parametrize("purge", [lambda m: m.purge("/users/{id}"), lambda m: m.purge_prefix("/users/")])
def test_without_purge_patterns_a_pattern_purge_says_what_to_turn_on(purge: object) -> None:
    harness = Harness()
    site(harness)

    with pytest.raises(ValueError, match=r"needs CacheMiddleware\(purge_patterns=True\)"):
        purge(harness.middleware)  # type: ignore[operator]


@pytest.mark.parametrize("purge", [lambda m: m.purge("/users/{id}"), lambda m: m.purge_prefix("/users/")])
def test_a_read_in_flight_during_a_pattern_purge_does_not_store_its_older_answer(purge: object) -> None:
    harness = Harness(InMemoryCacheStorage(), purge_patterns=True)
    version = {"n": 1}
    taken, release = threading.Event(), threading.Event()

    @harness.app.get("/users/{user_id}", cache_expiry=600)
    def user(request: HttpRequest) -> HttpResponse:
        seen = version["n"]  # the read happens here...
        if not taken.is_set():
            taken.set()
            release.wait(10)  # ... and the answer leaves after the purge
        return HttpResponse(f"v{seen}")

    server = LiveServer(harness.app)
    try:
        answers: list[bytes] = []
        reader = threading.Thread(target=lambda: answers.append(server.get("/users/1")[2]))
        reader.start()
        assert taken.wait(10)
        version["n"] = 2
        purge(harness.middleware)  # type: ignore[operator]
        release.set()
        reader.join()
        _, headers, body = server.get("/users/1")
    finally:
        release.set()
        server.close()

    assert answers == [b"v1"] and body == b"v2"
    assert headers["cache-status"].startswith("chocs-cache; fwd=uri-miss")


@pytest.mark.system
def test_a_template_purge_of_ten_thousand_responses_on_redis_is_a_few_round_trips_and_no_scan(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage, purge_patterns=True)
    site(harness)
    for number in range(10_000):
        harness.client.get(f"/users/{number}")
    harness.client.get("/reportsarchive")
    harness.middleware.purge("/reportsarchive")  # a server's first call of a script also loads it (NOSCRIPT)
    raw = redis.Redis.from_url(redis_server.url)
    raw.config_resetstat()

    removed = harness.middleware.purge("/users/{user_id}")

    stats = raw.info("commandstats")
    sent = {
        name: stats[f"cmdstat_{name}"]["calls"] for name in ("evalsha", "scan", "keys") if f"cmdstat_{name}" in stats
    }
    raw.close()
    purged_is_a_miss = not is_hit(harness, "/users/42")
    storage.close()  # after the last request: a request after it would open a connection no one closes
    assert removed == 10_000
    assert sent.get("evalsha", 0) <= 12 and "scan" not in sent and "keys" not in sent  # 1 + 10 batches of 1,000
    assert purged_is_a_miss
