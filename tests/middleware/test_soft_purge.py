"""Soft purges (docs/invalidation.md, "Soft purge"): stored responses made stale instead of removed.
Within a stale window every reader gets the stale copy at once while one refresh runs; outside
any window the handler is asked whether it is still current before it is served."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CollectableInMemoryCacheStorage, ICacheStorage, RedisCacheStorage, TieredCacheStorage
from support.harness import Clock, Harness, LiveServer, concurrently
from support.redis_server import RedisServer


class Catalogue:
    """Products whose version the tests change behind the cache's back, as a CMS does."""

    def __init__(self) -> None:
        self.version = 1
        self.runs: Counter[str] = Counter()

    def routes(self, harness: Harness, **keywords: object) -> None:
        @harness.app.get("/products/{product_id}", **{"cache_expiry": 60, "cache_groups": ("products",), **keywords})
        def product(request: HttpRequest) -> HttpResponse:
            self.runs[request.path] += 1
            etag = f'"v{self.version}"'
            if request.headers.get("if-none-match") == etag:
                return HttpResponse("", 304, headers={"etag": etag})
            return HttpResponse(f"{request.path} v{self.version}", headers={"etag": etag})


def status(response: object) -> str:
    return str(response.headers["Cache-Status"])  # type: ignore[attr-defined]


@pytest.fixture
def harness(any_storage: ICacheStorage, clock: Clock) -> Harness:
    return Harness(any_storage, clock=clock, purge_patterns=True)


def test_within_its_window_the_stale_copy_is_served_at_once_while_one_refresh_runs(harness: Harness) -> None:
    catalogue = Catalogue()
    catalogue.routes(harness, cache_stale_while_revalidate=300)
    harness.client.get("/products/1")
    catalogue.version = 2

    made_stale = harness.middleware.purge("/products/1", soft=True)
    during = harness.client.get("/products/1")
    harness.settle()
    after = harness.client.get("/products/1")

    assert made_stale == 1
    assert during.text == "/products/1 v1" and "detail=stale-while-revalidate" in status(during)
    assert after.text == "/products/1 v2" and status(after).startswith("chocs-cache; hit")
    assert catalogue.runs["/products/1"] == 2


def test_outside_any_window_it_is_validated_and_a_304_keeps_the_body(harness: Harness) -> None:
    catalogue = Catalogue()
    catalogue.routes(harness)
    harness.client.get("/products/1")

    harness.middleware.purge_groups("products", soft=True)
    validated = harness.client.get("/products/1")
    again = harness.client.get("/products/1")

    assert validated.text == "/products/1 v1"
    assert status(validated).startswith("chocs-cache; fwd=stale; fwd-status=304")
    assert status(again).startswith("chocs-cache; hit")
    assert catalogue.runs["/products/1"] == 2


def test_a_soft_purge_makes_stale_the_response_a_paths_index_carries(any_storage: ICacheStorage, clock: Clock) -> None:
    harness = Harness(any_storage, clock=clock)  # no groups: the path's one response rides in its index
    catalogue = Catalogue()
    catalogue.routes(harness, cache_groups=())
    harness.client.get("/products/1")

    made_stale = harness.middleware.purge("/products/1", soft=True)
    validated = harness.client.get("/products/1")
    again = harness.client.get("/products/1")

    assert made_stale == 1
    assert validated.text == "/products/1 v1" and status(validated).startswith("chocs-cache; fwd=stale; fwd-status=304")
    assert status(again).startswith("chocs-cache; hit")
    assert catalogue.runs["/products/1"] == 2


def test_a_template_and_a_prefix_purge_soft_too(harness: Harness) -> None:
    catalogue = Catalogue()
    catalogue.routes(harness, cache_stale_while_revalidate=300)
    for number in (1, 2):
        harness.client.get(f"/products/{number}")

    assert harness.middleware.purge("/products/{product_id}", soft=True) == 2
    for number in (1, 2):  # served stale, and refreshed
        harness.client.get(f"/products/{number}")
    harness.settle()
    assert harness.middleware.purge_prefix("/products/", soft=True) == 2
    served = [harness.client.get(f"/products/{number}") for number in (1, 2)]

    assert all("detail=stale-while-revalidate" in status(response) for response in served)


def test_the_middleware_bounds_how_long_after_a_soft_purge_a_stale_copy_is_served(clock: Clock) -> None:
    harness = Harness(CollectableInMemoryCacheStorage(clock=clock), clock=clock, soft_purge_window=5)
    catalogue = Catalogue()
    catalogue.routes(harness, cache_stale_while_revalidate=300)
    harness.client.get("/products/1")

    harness.middleware.purge("/products/1", soft=True)
    clock.advance(6)
    late = harness.client.get("/products/1")

    assert status(late).startswith("chocs-cache; fwd=stale; fwd-status=304"), "past 5 s it is validated first"


def test_a_response_stored_meanwhile_is_not_replaced_by_the_softened_older_one(clock: Clock) -> None:
    harness = Harness(CollectableInMemoryCacheStorage(clock=clock), clock=clock)
    catalogue = Catalogue()
    catalogue.routes(harness)
    harness.client.get("/products/1")
    hard = harness.middleware.purge("/products/1")
    catalogue.version = 2
    harness.client.get("/products/1")

    softened = harness.middleware.purge("/products/1", soft=True)
    harness.middleware.purge("/products/1", soft=True)  # already stale: left as it is

    assert (hard, softened) == (1, 1)
    assert harness.client.get("/products/1").text == "/products/1 v2"


def test_a_read_in_flight_during_a_soft_purge_does_not_store_its_older_answer() -> None:
    harness = Harness(CollectableInMemoryCacheStorage())
    version, taken, release = {"n": 1}, threading.Event(), threading.Event()

    @harness.app.get("/products/{product_id}", cache_expiry=600, cache_groups=("products",))
    def product(request: HttpRequest) -> HttpResponse:
        seen = version["n"]
        if seen == 2 and not taken.is_set():
            taken.set()
            release.wait(10)  # read before the soft purge, answered after it
        return HttpResponse(f"v{seen}")

    server = LiveServer(harness.app)
    try:
        server.get("/products/2")  # something stored in the group
        version["n"] = 2
        reader = threading.Thread(target=lambda: server.get("/products/1"))
        reader.start()
        assert taken.wait(10)
        version["n"] = 3
        harness.middleware.purge_groups("products", soft=True)
        release.set()
        reader.join()
        _, headers, body = server.get("/products/1")
    finally:
        release.set()
        server.close()

    assert body == b"v3" and headers["cache-status"].startswith("chocs-cache; fwd=uri-miss")


@pytest.mark.system
def test_a_soft_purge_of_a_thousand_responses_runs_each_handler_once_and_keeps_readers_waiting_for_none() -> None:
    harness = Harness(CollectableInMemoryCacheStorage(max_items=5000))
    catalogue = Catalogue()
    catalogue.routes(harness, cache_stale_while_revalidate=600)
    paths = [f"/products/{number}" for number in range(1000)]
    for path in paths:
        harness.client.get(path)

    assert harness.middleware.purge_groups("products", soft=True) == 1000

    def reader(number: int) -> list[str]:
        return [status(harness.client.get(path)) for path in paths[number % 7 :] + paths[: number % 7]]

    statuses = [line for lines in concurrently(32, reader) for line in lines]
    harness.settle()
    most_after_the_burst = max(catalogue.runs[path] for path in paths)
    for _ in range(50):  # refreshes beyond the background queue's bound are scheduled by later requests
        if all(catalogue.runs[path] == 2 for path in paths):
            break
        for path in paths:
            harness.client.get(path)
        harness.settle()

    assert most_after_the_burst <= 2, "never more than one refresh per entry"
    assert all(catalogue.runs[path] == 2 for path in paths), "one refresh per entry"
    assert not [line for line in statuses if "fwd-status" in line and "stale-while-revalidate" not in line]


@pytest.mark.system
def test_a_soft_purge_reaches_another_processs_tier(redis_server: RedisServer, redis_prefix: str) -> None:
    tiers = [TieredCacheStorage(RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)) for _ in range(2)]
    purging, reading = Harness(tiers[0]), Harness(tiers[1])
    catalogue = Catalogue()
    for harness in (purging, reading):
        catalogue.routes(harness, cache_stale_while_revalidate=300)
    purging.client.get("/products/1")
    reading.client.get("/products/1")
    assert status(reading.client.get("/products/1")).startswith("chocs-cache; hit")  # a copy in its tier

    purging.middleware.purge("/products/1", soft=True)
    served = reading.client.get("/products/1")

    assert "detail=stale-while-revalidate" in status(served)
    Harness.settle_all()  # the refresh ends before the tiers close
    for tier in tiers:
        tier.close()


def test_a_process_waiting_for_anothers_revalidation_takes_its_304_within_the_same_second(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    # The confirmed copy carries the Date of the 304 (whole seconds), so it counts as stored a
    # little before the copy it confirmed, when both fall within one second.
    clock = Clock(1_800_000_000.5)
    storages = [RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix) for _ in range(2)]
    processes = [Harness(storage, clock=clock) for storage in storages]
    runs = Counter[str]()
    asked, release = threading.Event(), threading.Event()
    for harness in processes:

        @harness.app.get("/doc", cache_expiry=60)
        def doc(request: HttpRequest) -> HttpResponse:
            runs["doc"] += 1
            if request.headers.get("if-none-match") == '"d1"':
                asked.set()
                release.wait(10)
                return HttpResponse("", 304, headers={"etag": '"d1"'})
            return HttpResponse("document", headers={"etag": '"d1"'})

    try:
        processes[0].client.get("/doc")
        processes[0].middleware.purge("/doc", soft=True)
        revalidating = threading.Thread(target=processes[0].client.get, args=("/doc",))
        revalidating.start()
        assert asked.wait(10)
        results: list[object] = []
        waiting = threading.Thread(target=lambda: results.append(processes[1].client.get("/doc")))
        waiting.start()
        threading.Event().wait(0.3)  # the second process finds the lock held and waits
        release.set()
        revalidating.join()
        waiting.join()
    finally:
        release.set()
        for storage in storages:
            storage.close()

    assert runs["doc"] == 2  # stored once, confirmed once: the waiting process takes that confirmation
    assert results[0].text == "document"  # type: ignore[attr-defined]
