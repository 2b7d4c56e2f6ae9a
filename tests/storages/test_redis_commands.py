"""The commands the cache sends Redis per request, counted by Redis itself (``INFO
commandstats``): the figures the docs quote."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, RedisCacheStorage
from support.redis_server import RedisServer
from tests.conftest import Harness, LiveServer, concurrently
from tests.storages.conftest import counted_route


class TestCommandsPerRequest:
    """The figures the docs quote, counted by Redis itself."""

    def commands(self, raw: redis.Redis) -> dict[str, int]:
        stats = raw.info("commandstats")
        return {name[len("cmdstat_") :]: value["calls"] for name, value in stats.items() if name != "cmdstat_info"}

    def delta(self, raw: redis.Redis, before: dict[str, int]) -> dict[str, int]:
        after = self.commands(raw)
        changes = {name: calls - before.get(name, 0) for name, calls in after.items()}
        return {name: count for name, count in changes.items() if count and name not in ("info", "config|resetstat")}

    @pytest.fixture
    def counted(self, private_redis: RedisServer, redis_prefix: str) -> Iterator[tuple[Harness, redis.Redis]]:
        """A harness on a Redis of this test's own with ``/items/1`` stored, and a client counting
        what the cache sends."""
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        harness = Harness(storage)
        counted_route(harness)
        harness.client.get("/items/1")
        yield harness, raw
        storage.close()
        raw.close()

    def test_a_hit_costs_one_command(self, counted: tuple[Harness, redis.Redis]) -> None:
        harness, raw = counted

        before = self.commands(raw)
        hit = harness.client.get("/items/1")
        hit_commands = self.delta(raw, before)

        assert hit.headers["Cache-Status"].startswith("chocs-cache; hit")
        # Sent by the client: one EVALSHA (the look-up), which runs the MGET of the epoch, the index
        # and the variant inside the server.
        assert hit_commands == {"evalsha": 1, "mget": 1}

    def test_a_miss_that_stores_costs_two_commands(self, counted: tuple[Harness, redis.Redis]) -> None:
        harness, raw = counted

        before = self.commands(raw)
        harness.client.get("/items/2")
        miss_commands = self.delta(raw, before)

        # Sent by the client: two EVALSHA, two round trips. The look-up runs MGET, SET NX (the lock:
        # the variant is missing) and TIME (the server's clock before the handler). The store runs
        # GET + DEL (the lock, released while it is still ours), MGET (the index, and the purge
        # marks of the path and of everything), SET (compare-and-set of the index, which carries
        # the response, against the index the look-up read), TIME + (TYPE + ZADD + ZREMRANGEBYSCORE + PTTL +
        # PEXPIRE) x 2 (the response listed in its path's group, the host among the hosts), and
        # PUBLISH (the ids it changed, for every process's tier).
        assert miss_commands == {
            "publish": 1,
            "time": 2,
            "mget": 1 + 1,
            "set": 1 + 1,
            "get": 1,
            "evalsha": 2,
            "del": 1,
            "type": 2,
            "zadd": 2,
            "zremrangebyscore": 2,
            "pttl": 2,
            "pexpire": 2,
        }

    def test_an_invalidation_costs_one_round_trip(self, counted: tuple[Harness, redis.Redis]) -> None:
        harness, raw = counted

        before = self.commands(raw)
        harness.client.patch("/items/1", "{}")
        invalidation_commands = self.delta(raw, before)

        # MGET the index (with the epoch), SET the invalidation's marker in its place (the one
        # response went with the index that carried it), with its PUBLISH in the same round trip
        assert invalidation_commands == {"mget": 1, "set": 1, "publish": 1}

    def test_callers_waiting_in_one_process_take_the_leaders_answer_without_reading_again(
        self, private_redis: RedisServer, redis_prefix: str
    ) -> None:
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        harness = Harness(storage)
        entered = threading.Event()

        @harness.app.get("/cold", cache_expiry=60)
        def cold(request: HttpRequest) -> HttpResponse:
            harness.count("cold")
            entered.set()
            time.sleep(0.3)  # the other five arrive and wait meanwhile
            return HttpResponse("cold")

        server = LiveServer(harness.app)
        try:
            before = self.commands(raw)
            answers = concurrently(6, lambda number: server.get("/cold"))
            reads = self.delta(raw, before)
        finally:
            server.close()
            storage.close()
            raw.close()

        assert [status for status, _, _ in answers] == [200] * 6 and harness.calls["cold"] == 1
        assert sum(1 for _, headers, _ in answers if "collapsed" in headers["cache-status"]) == 5
        # Each request's lookup (an MGET each): the five that waited take the leader's answer as stored.
        assert reads.get("get", 0) + reads.get("mget", 0) <= 8

    def test_a_process_waiting_for_another_polls_the_lock_with_one_command(
        self, private_redis: RedisServer, redis_prefix: str
    ) -> None:
        storage = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
        raw = redis.Redis.from_url(private_redis.url)
        try:
            harness = Harness(storage)
            counted_route(harness)
            flight = harness.client.get("/items/1")
            lock_name = harness.middleware.inspect("/items/1")[0]["variant"]  # a flight's lock: its variant id
            index = next(key.decode()[len(redis_prefix) + 2 :] for key in raw.scan_iter(f"{redis_prefix}0:r*"))
            storage.collect(CacheItem.empty(index))  # the path's index, and the one response it carries
            other = RedisCacheStorage.from_url(private_redis.url, prefix=redis_prefix)
            token = other.acquire_lock(lock_name, 30)  # another process computes this key
            threading.Timer(0.5, lambda: other.release_lock(lock_name, str(token))).start()

            before = self.commands(raw)
            waited = harness.client.get("/items/1")
            waiting_commands = self.delta(raw, before)
            other.close()
        finally:
            storage.close()
            raw.close()

        assert flight.status_int == waited.status_int == 200
        assert waiting_commands["set"] >= 5  # SET NX, once per poll while the other process held the lock
        # the lookup, and one look once the lock was free (not one per poll); then its own store's script
        assert waiting_commands["mget"] == 2 + 1
