"""The cache touches only its own keys in a Redis that also holds the app's sessions and queues:
``purge_all`` starts a new epoch instead of scanning, and a prefix that other keys could start
with is refused when the storage is made (a real redis-server and a real Redis Cluster)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.redis_server import RedisClusterServers, RedisServer
from tests.conftest import Harness

OTHERS = {"myapplication:session:42": b"alice", "user:1": b"bob", "session:9": b"carol", "queue:jobs": b"job"}
"""Keys of the app's own, beside the cache's."""


def pages(harness: Harness) -> None:
    @harness.app.get("/pages/{id}", cache_expiry=600, cache_groups=("pages",))
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        return HttpResponse(f"page {request.path_parameters['id']}")


def commands(raw: redis.Redis) -> dict[str, int]:
    return {name[len("cmdstat_") :]: stats["calls"] for name, stats in raw.info("commandstats").items()}


class TestPurgeAll:
    @pytest.fixture
    def harness(self, redis_server: RedisServer, raw: redis.Redis) -> Iterator[Harness]:
        raw.mset(OTHERS)
        storage = RedisCacheStorage.from_url(redis_server.url, prefix="myapp:")
        harness = Harness(storage)
        pages(harness)
        yield harness
        storage.close()
        raw.delete(*OTHERS)

    def test_leaves_every_key_it_did_not_write(self, harness: Harness, raw: redis.Redis) -> None:
        for number in range(5):
            harness.client.get(f"/pages/{number}")

        harness.middleware.purge_all()

        assert {key: raw.get(key) for key in OTHERS} == OTHERS
        assert all(raw.ttl(key) == -1 for key in OTHERS)  # nor did it give them an expiry

    def test_makes_every_stored_response_unreachable_at_once(self, harness: Harness) -> None:
        for number in range(5):
            harness.client.get(f"/pages/{number}")

        harness.middleware.purge_all()

        statuses = [harness.client.get(f"/pages/{number}").headers["Cache-Status"] for number in range(5)]
        assert all(status.startswith("chocs-cache; fwd=uri-miss") for status in statuses)
        assert harness.calls["page"] == 10

    def test_costs_the_same_few_commands_whatever_redis_holds(self, harness: Harness, raw: redis.Redis) -> None:
        costs = []
        for stored in (10, 1_000):
            for number in range(stored):
                harness.client.get(f"/pages/{stored}-{number}")
            harness.middleware.purge_all()  # the first loads the script
            before = commands(raw)
            harness.middleware.purge_all()
            after = commands(raw)
            costs.append({name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name)})

        assert costs[0] == costs[1]
        assert not {"scan", "keys", "unlink"} & set(costs[1])
        # One script: a new epoch and the removal's mark (SET x 2, TIME, PUBLISH). Then synchronise:
        # PUBLISH a marker that listening tiers acknowledge (none listen here).
        assert costs[1] == {"evalsha": 1, "set": 2, "time": 1, "publish": 2, "info": 1}

    def test_the_old_epoch_expires_by_its_ttl_and_is_not_deleted(self, harness: Harness, raw: redis.Redis) -> None:
        harness.client.get("/pages/1")
        old = [key for key in raw.scan_iter("myapp:0:*")]

        harness.middleware.purge_all()

        assert old and all(0 < raw.pttl(key) <= 600_000 + 3_600_000 for key in old)

    def test_another_process_sees_the_new_epoch_on_its_next_read(
        self, harness: Harness, redis_server: RedisServer
    ) -> None:
        other_storage = RedisCacheStorage.from_url(redis_server.url, prefix="myapp:")
        other = Harness(other_storage)
        pages(other)
        other.client.get("/pages/1")
        assert other.client.get("/pages/1").headers["Cache-Status"].startswith("chocs-cache; hit")

        harness.middleware.purge_all()
        after = other.client.get("/pages/1")
        other_storage.close()

        assert after.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_purge_all_on_a_cluster_leaves_the_apps_own_keys(redis_cluster: RedisClusterServers) -> None:
    from redis.cluster import RedisCluster

    client = RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    client.mset_nonatomic(OTHERS)
    storage = RedisCacheStorage(client, prefix="clustered-app:", timeout=None)
    harness = Harness(storage)
    pages(harness)
    try:
        for number in range(20):
            harness.client.get(f"/pages/{number}")

        harness.middleware.purge_all()
        after = [harness.client.get(f"/pages/{number}").headers["Cache-Status"] for number in range(20)]
        kept = {key: client.get(key) for key in OTHERS}
    finally:
        client.delete(*OTHERS)
        client.close()

    assert kept == OTHERS
    assert all(status.startswith("chocs-cache; fwd=uri-miss") for status in after)


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        ("", "must not be empty"),
        ("*", r"must not contain \*"),
        ("cache*:", r"must not contain \*"),
        ("a{b}:", "must not contain { }"),
        ("myapp", r"must end with ':' \(write 'myapp:'\)"),
        ("my app:", "must not contain"),
    ],
)
def test_a_prefix_other_keys_could_start_with_is_refused_when_the_storage_is_made(
    redis_server: RedisServer, prefix: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        RedisCacheStorage.from_url(redis_server.url, prefix=prefix)


def test_a_prefix_that_is_not_text_is_refused(redis_server: RedisServer) -> None:
    with pytest.raises(TypeError, match=r"prefix=\.\.\.\) must be a string"):
        RedisCacheStorage.from_url(redis_server.url, prefix=b"cache:")  # type: ignore[arg-type]
