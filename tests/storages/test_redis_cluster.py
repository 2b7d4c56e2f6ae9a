"""``RedisCacheStorage`` on a real Redis Cluster of three masters, started by the tests."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage, TieredCacheStorage
from chocs_middleware.cache.testing import StorageContract
from support.redis_server import RedisClusterServers
from tests.conftest import Harness


def cluster_storage(cluster: RedisClusterServers, prefix: str | None = None) -> RedisCacheStorage:
    return RedisCacheStorage.from_url(cluster.url, prefix=prefix or f"c-{uuid.uuid4().hex[:8]}:", cluster=True)


class TestRedisClusterContract(StorageContract):
    @pytest.fixture(autouse=True)
    def _cluster(self, redis_cluster: RedisClusterServers) -> Iterator[None]:
        self.cluster = redis_cluster
        self.made: list[RedisCacheStorage] = []
        yield
        for storage in self.made:
            storage.close()

    def make_storage(self) -> RedisCacheStorage:
        self.made.append(cluster_storage(self.cluster))
        return self.made[-1]


def users(harness: Harness) -> dict[int, str]:
    names = {1: "Bob"}

    @harness.app.get("/users/{user_id}", cache_expiry=600, cache_vary=("accept-language",), cache_groups=("users",))
    def get_user(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(names[int(request.path_parameters["user_id"])])

    @harness.app.patch("/users/{user_id}", cache_invalidates=("users",))
    def update_user(request: HttpRequest) -> HttpResponse:
        names[int(request.path_parameters["user_id"])] = str(request)
        return HttpResponse("", 204)

    return names


MEASURING = ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo")
"""What counting the commands costs itself."""


def commands(cluster: RedisClusterServers) -> dict[str, int]:
    """Every node's calls per command, added up (Redis's own INFO commandstats)."""
    total: dict[str, int] = {}
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        for name, stats in client.info("commandstats").items():
            if name not in MEASURING:
                total[name] = total.get(name, 0) + stats["calls"]
        client.close()
    return total


def test_a_hit_is_one_pipelined_mget_of_the_response_and_one_of_the_epoch(redis_cluster: RedisClusterServers) -> None:
    storage = cluster_storage(redis_cluster)
    harness = Harness(storage)
    users(harness)
    try:
        harness.client.get("/users/1", headers={"Accept-Language": "en"})
        before = commands(redis_cluster)
        hit = harness.client.get("/users/1", headers={"Accept-Language": "en"})
        after = commands(redis_cluster)
    finally:
        storage.close()

    changed = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
    # The index and the response from their node, and the epoch from the groups' slot: redis-py sends
    # both MGETs before it reads either answer, so the hit waits for one round trip.
    assert changed == {"cmdstat_mget": 2}


def test_writes_groups_and_purges_reach_every_node(redis_cluster: RedisClusterServers) -> None:
    storage = cluster_storage(redis_cluster)
    harness = Harness(storage)
    names = users(harness)
    try:
        for user in range(1, 40):  # on many slots, so on every node
            names[user] = f"user {user}"
            harness.client.get(f"/users/{user}")
        harness.client.get("/users/1?expand=1", headers={"Accept-Language": "de"})

        harness.client.patch("/users/1", "Robert")  # its path, and the group "users" on every node
        after_write = [harness.client.get(f"/users/{user}").headers["Cache-Status"] for user in (1, 2, 39)]
        purged = harness.middleware.purge_all()
        after_purge = [harness.client.get(f"/users/{user}").headers["Cache-Status"] for user in (1, 2, 39)]
    finally:
        storage.close()

    assert all(status.startswith("chocs-cache; fwd=uri-miss") for status in after_write)
    assert purged is None  # a new epoch, whatever the nodes hold: nothing is visited, so nothing is counted
    assert all(status.startswith("chocs-cache; fwd=uri-miss") for status in after_purge)  # the three stored again


def test_a_tier_listens_to_a_cluster(redis_cluster: RedisClusterServers) -> None:
    prefix = f"c-{uuid.uuid4().hex[:8]}:"
    here = TieredCacheStorage(cluster_storage(redis_cluster, prefix))
    elsewhere = cluster_storage(redis_cluster, prefix)
    try:
        deadline = time.monotonic() + 10
        while not here.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        harness = Harness(here)
        users(harness)
        harness.client.get("/users/1")
        assert harness.client.get("/users/1").headers["Cache-Status"].startswith("chocs-cache; hit")

        Harness(elsewhere).middleware.purge("/users/1")
        deadline = time.monotonic() + 2
        while harness.client.get("/users/1").headers["Cache-Status"].startswith("chocs-cache; hit"):
            assert time.monotonic() < deadline, "the purge never reached the tier"
            time.sleep(0.005)
    finally:
        here.close()
        elsewhere.close()


def test_a_master_stopped_mid_run_is_served_around_and_caching_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = RedisClusterServers()  # a cluster of its own: one of its masters is stopped
    storage = cluster_storage(cluster)
    harness = Harness(storage)
    names = users(harness)
    names.update({user: f"user {user}" for user in range(1, 30)})
    caplog.set_level(logging.WARNING, logger="chocs_middleware.cache")
    try:
        for user in range(1, 30):
            harness.client.get(f"/users/{user}")

        cluster.nodes[1].stop()
        down = [harness.client.get(f"/users/{user}") for user in range(1, 30)]
        cluster.nodes[1].start()
        cluster.wait_until_ok()
        resumed = False
        deadline = time.monotonic() + 30
        while not resumed and time.monotonic() < deadline:
            harness.client.get("/users/5")
            resumed = harness.client.get("/users/5").headers["Cache-Status"].startswith("chocs-cache; hit")
            time.sleep(0.2)
    finally:
        storage.close()
        cluster.close()

    assert [response.status_int for response in down] == [200] * 29  # the handler answered every one
    assert any("cache storage" in record.getMessage() for record in caplog.records)
    assert resumed, "caching did not resume once the master was back"
