"""On Redis a hit is one round trip and a miss that stores two: the look-up takes the lock when the
variant is missing (``ILookupCacheStorage.look_up``), and the store releases it
(``store_and_release``). Every lock a look-up takes is used or given back."""

from __future__ import annotations

import threading
import time

import redis
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem, ILookupCacheStorage, RedisCacheStorage, TieredCacheStorage
from chocs_middleware.cache.entries.outcomes import Claimed
from chocs_middleware.cache.flow.flights import Claim, Coalescer, Follow, Lead
from support.harness import Clock, Harness
from support.monitor import commands_sent
from support.redis_server import RedisServer


def item_route(harness: Harness, **keywords: object) -> None:
    @harness.app.get("/items/{id}", **{"cache_expiry": 60, **keywords})
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse(f"item {request.path_parameters['id']}")


def test_another_process_learns_how_a_route_is_keyed_and_hits_in_one_command(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    """With observed keys, a route's recipe is learned from what is stored: a process that stored
    nothing finds the response under the index's recipe once, then looks there first."""
    storages = [RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix) for _ in range(2)]
    storer, reader = Harness(storages[0]), Harness(storages[1])
    for harness in (storer, reader):
        item_route(harness)
    for path in ("/items/1", "/items/2"):
        storer.client.get(path)
    storages[1].set(CacheItem("warm", b"x", 60))  # its connection open

    first = commands_sent(redis_server.url, lambda: reader.client.get("/items/1"))
    then = commands_sent(redis_server.url, lambda: reader.client.get("/items/2"))

    # The look-up reads the path's index, which carries its one response, stored under the
    # index's recipe: found there, with no second read and no lock.
    assert first == ["evalsha"]
    assert then == ["evalsha"]
    assert reader.calls["read"] == 0 and storer.calls["read"] == 2
    for storage in storages:
        storage.close()


def locks(raw: redis.Redis, prefix: str) -> list[bytes]:
    return list(raw.scan_iter(match=f"{prefix}lock:*"))


def test_a_stored_miss_sends_two_commands_and_a_hit_one(
    storage: RedisCacheStorage, redis_server: RedisServer, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)
    item_route(harness)
    harness.client.get("/items/warm")  # scripts loaded, connections open

    miss = commands_sent(redis_server.url, lambda: harness.client.get("/items/1"))
    hit = commands_sent(redis_server.url, lambda: harness.client.get("/items/1"))

    assert miss == ["evalsha", "evalsha"]  # the look-up (and the lock, and the clock); the store (and the unlock)
    assert hit == ["evalsha"]  # the look-up
    assert harness.calls["read"] == 2
    assert locks(raw, redis_prefix) == []


def test_a_route_that_last_stored_apart_gives_back_the_lock_its_look_up_took_for_a_carried_response(
    storage: RedisCacheStorage, redis_server: RedisServer, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)
    item_route(harness, cache_vary=("accept",))
    plain, html = {"Accept": "text/plain"}, {"Accept": "text/html"}
    harness.client.get("/items/1", headers=plain)  # the index carries this one
    harness.client.get("/items/1", headers=html)  # stored apart: the route reads index and variant together

    apart = commands_sent(redis_server.url, lambda: harness.client.get("/items/1", headers=html))
    carried = commands_sent(redis_server.url, lambda: harness.client.get("/items/1", headers=plain))
    then = commands_sent(redis_server.url, lambda: harness.client.get("/items/1", headers=plain))

    assert apart == ["evalsha"]
    # The look-up found the variant's own key empty and took its lock; the response was in the
    # index: the lock is given back (its script loaded on first use), and the route reads the
    # index alone from then on.
    assert carried[0] == carried[-1] == "evalsha" and set(carried) <= {"evalsha", "script"}
    assert then == ["evalsha"]
    assert harness.calls["read"] == 2
    assert locks(raw, redis_prefix) == []


def test_a_route_that_last_found_a_carried_response_reads_a_variant_apart_with_one_more_command(
    storage: RedisCacheStorage, redis_server: RedisServer
) -> None:
    harness = Harness(storage)
    item_route(harness, cache_vary=("accept",))
    harness.client.get("/items/1", headers={"Accept": "text/plain"})  # the index carries this one
    harness.client.get("/items/1", headers={"Accept": "text/html"})  # stored apart
    harness.client.get("/items/1", headers={"Accept": "text/plain"})  # found carried: the index alone next

    html = {"Accept": "text/html"}
    first = commands_sent(redis_server.url, lambda: harness.client.get("/items/1", headers=html))
    then = commands_sent(redis_server.url, lambda: harness.client.get("/items/1", headers=html))

    assert first == ["evalsha", "mget"]  # the index, which lists it apart; then the variant
    assert then == ["evalsha"]  # the index and the variant together from then on
    assert harness.calls["read"] == 2


def test_a_tier_in_front_of_redis_misses_in_two_commands_too(redis_server: RedisServer, redis_prefix: str) -> None:
    storage = TieredCacheStorage(RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix))
    try:
        assert isinstance(storage, ILookupCacheStorage)
        harness = Harness(storage)
        item_route(harness)
        deadline = time.monotonic() + 5
        while not storage.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        harness.client.get("/items/warm")

        sent = commands_sent(redis_server.url, lambda: harness.client.get("/items/1"))
    finally:
        storage.close()

    assert [command for command in sent if command != "ping"] == ["evalsha", "evalsha"]  # less the tier's heartbeats


def test_a_miss_whose_answer_is_not_stored_leaves_no_lock(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)

    @harness.app.get("/live", cache_expiry=60)
    def live(request: HttpRequest) -> HttpResponse:
        return HttpResponse("now", headers={"cache-control": "no-store"})

    first = harness.client.get("/live")

    assert first.headers["Cache-Status"].endswith("detail=no-store")
    assert locks(raw, redis_prefix) == []


def test_a_look_up_that_finds_a_response_of_another_recipe_gives_its_lock_back(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)

    @harness.app.get("/page", cache_expiry=60, cache_vary=())
    def page(request: HttpRequest) -> HttpResponse:
        harness.count("page")
        return HttpResponse("page", headers={"vary": "accept-language"})  # the handler varies more than the route

    harness.client.get("/page", headers={"Accept-Language": "en"})
    again = harness.client.get("/page", headers={"Accept-Language": "en"})

    assert again.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["page"] == 1
    assert locks(raw, redis_prefix) == []


def test_only_if_cached_gives_the_look_ups_lock_back(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage, honour_request_cache_control=True)
    item_route(harness)

    harness.client.get("/items/1", headers={"Cache-Control": "only-if-cached"}, status=504)

    assert locks(raw, redis_prefix) == []
    assert harness.client.get("/items/1").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_an_answer_stored_after_a_purge_mark_is_refused_and_its_lock_released(
    storage: RedisCacheStorage, raw: redis.Redis, redis_prefix: str
) -> None:
    harness = Harness(storage)
    entered, release = threading.Event(), threading.Event()

    @harness.app.get("/slow", cache_expiry=60)
    def slow(request: HttpRequest) -> HttpResponse:
        entered.set()
        release.wait(5)
        return HttpResponse("before the purge")

    reader = threading.Thread(target=lambda: harness.client.get("/slow"))
    reader.start()
    entered.wait(5)
    harness.middleware.purge("/slow")  # after the look-up read the clock, before the answer is stored
    release.set()
    reader.join(5)

    assert locks(raw, redis_prefix) == []
    assert harness.client.get("/slow").headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


def test_a_follower_hands_the_lock_its_look_up_took_to_the_leader(storage: RedisCacheStorage) -> None:
    """In one process, the request whose look-up took the lock may join the flight after another
    became its leader: the leader gets the lock from it rather than waiting as if another process
    held it."""
    flights: Coalescer[str] = Coalescer(5.0, Clock())
    lead = flights.join("key", "resource")
    follow = flights.join("key", "resource")
    assert isinstance(lead, Lead) and isinstance(follow, Follow)
    token = storage.acquire_lock("key", 5.0)  # what the follower's look-up took
    assert token is not None
    claims: list[object] = []

    def leader() -> None:
        elsewhere = Claimed(None, True, 0.0)  # its own look-up found the lock held
        claims.append(lead.claim_elsewhere(_Locks(storage), lambda: None, elsewhere))

    waiting = threading.Thread(target=leader)
    waiting.start()
    assert follow.hand_over(token)
    waiting.join(5)

    assert claims == [Claim.RUN]
    assert lead.held is not None and lead.held.token == token
    lead.close(_Locks(storage))
    assert storage.acquire_lock("key", 5.0) is not None  # released when the leader closed


class _Locks:
    """The flow's view of a storage's lock (as ``EntryStore`` gives it)."""

    def __init__(self, storage: RedisCacheStorage) -> None:
        self._storage = storage

    def acquire_lock(self, name: str, ttl: float) -> tuple[str | None, bool]:
        token = self._storage.acquire_lock(name, ttl)
        return token, token is None

    def release_lock(self, name: str, token: str) -> None:
        self._storage.release_lock(name, token)
