"""What a miss costs, and what an entry keeps: part of ``make bench``.

- A miss that stores, next to the same app without the cache, both serving URLs never asked
  before, with a handler that builds its 2 KB JSON answer (``payload.records_body``): in one
  process, through the WSGI callable, interleaved round by round.
- Memory per cached 2 KB response, for three kinds of body: the benchmark's JSON (compresses
  well), base64 of random bytes (text that compresses a little), random bytes (not at all).
- On Redis: commands per hit and per stored miss, as Redis's ``MONITOR`` sees them,
  and Redis's own memory per entry for each kind of body.
"""

from __future__ import annotations

import gc
import io
import itertools
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

import redis
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler
from chocs.middleware import Middleware

from benchmarks.least_cache import LeastCache
from benchmarks.payload import BASE64_BODY, BODY, RANDOM_BODY, records_body
from chocs_middleware.cache import CacheMiddleware, ICacheStorage, InMemoryCacheStorage, RedisCacheStorage
from chocs_middleware.cache.storages.redis.scripts import LOOK_UP
from support.monitor import commands_sent

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
BODIES = (("the benchmark's JSON", BODY), ("base64 of random bytes", BASE64_BODY), ("random bytes", RANDOM_BODY))
_URLS = itertools.count()
"""Every URL the miss benchmark asks for is new: no app has seen it."""


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
    pass


def request(wsgi: WsgiApp, path: str) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(b""),
    }
    wsgi(environ, _start_response).read()


def app_with(cached: bool, storage: ICacheStorage | None = None, answer: Callable[[], bytes] = records_body) -> WsgiApp:
    """``/items/{item_id}``, answered with ``answer()`` (built per request), cached for an hour or not."""
    storage = InMemoryCacheStorage() if storage is None else storage  # an empty storage is falsy (len 0)
    return app_behind(CacheMiddleware(storage) if cached else None, answer)


def app_behind(middleware: Middleware | None, answer: Callable[[], bytes] = records_body) -> WsgiApp:
    """``/items/{item_id}``, answered with ``answer()``, behind ``middleware`` (cached for an hour
    when it is this project's) or none."""
    app = Application(middleware) if middleware is not None else Application()
    keywords = {"cache_expiry": 3600} if isinstance(middleware, CacheMiddleware) else {}

    @app.get("/items/{item_id}", **keywords)
    def item(request: HttpRequest) -> HttpResponse:
        return HttpResponse(answer(), HttpStatus.OK, headers={"content-type": "application/json"})

    return create_wsgi_handler(app)


def _new_urls(wsgi: WsgiApp, count: int) -> float:
    """Mean microseconds per request for ``count`` URLs no one asked for before."""
    paths = [f"/items/{next(_URLS)}" for _ in range(count)]
    started = time.perf_counter()
    for path in paths:
        request(wsgi, path)
    return (time.perf_counter() - started) / count * 1e6


def _interleaved(apps: dict[str, WsgiApp], rounds: int, count: int) -> dict[str, list[float]]:
    """Mean microseconds per new URL of each app, ``rounds`` times, the apps' order reversed every
    other round; each app warmed first."""
    samples: dict[str, list[float]] = {label: [] for label in apps}
    for wsgi in apps.values():
        _new_urls(wsgi, min(count, 200))
    for number in range(rounds):
        for label in list(apps) if number % 2 == 0 else reversed(list(apps)):
            samples[label].append(_new_urls(apps[label], count))
    return samples


def _ratio(samples: dict[str, list[float]], label: str, baseline: str) -> float:
    """The median over rounds of ``label``'s time over ``baseline``'s in the same round."""
    return statistics.median(mine / base for mine, base in zip(samples[label], samples[baseline]))


def _slow_records() -> bytes:
    """``records_body`` from a handler that first waits a millisecond, as on a database."""
    time.sleep(0.001)
    return records_body()


def miss_costs(quick: bool) -> float:
    """A miss that stores (in-memory storage) next to no cache, on new URLs; returns the ratio.
    Beside them, the floor: ``LeastCache`` (``benchmarks/least_cache.py``), with and without zlib;
    then the same miss and no cache with a handler that takes a millisecond longer."""
    rounds, count = (3, 200) if quick else (21, 2000)
    samples = _interleaved(
        {
            "bare": app_with(cached=False),
            "miss": app_with(cached=True, storage=InMemoryCacheStorage(max_items=100_000)),
            "least": app_behind(LeastCache(compress=False)),
            "least-zlib": app_behind(LeastCache(compress=True)),
        },
        rounds,
        count,
    )
    print(f"A miss that stores, on URLs never asked before ({rounds} interleaved rounds of {count}; the handler")
    print("builds its 2 KB JSON answer per request)")
    rows = (
        ("bare", "(g) no cache"),
        ("miss", "(h) cache miss, stored (in-memory)"),
        ("least", "    least a cache can do (path -> dict)"),
        ("least-zlib", "    the same, body through zlib level 1"),
    )
    for label, title in rows:
        median, ratio = statistics.median(samples[label]), _ratio(samples, label, "bare")
        print(f"  {title:40s} {median:9.1f} us   {ratio:6.2f} x (g)")
    miss = _ratio(samples, "miss", "bare")
    print(f"  miss / no cache = {miss:.2f} (target <= 1.30): {'met' if miss <= 1.30 else 'NOT met'}")
    _slow_handler_costs(quick)
    return miss


def _slow_handler_costs(quick: bool) -> None:
    """The same miss and no cache, with a handler that waits 1 ms before building its answer."""
    rounds, count = (3, 20) if quick else (11, 300)
    slow = _interleaved(
        {
            "bare": app_with(cached=False, answer=_slow_records),
            "miss": app_with(cached=True, storage=InMemoryCacheStorage(max_items=100_000), answer=_slow_records),
        },
        rounds,
        count,
    )
    bare, miss = (statistics.median(slow[label]) for label in ("bare", "miss"))
    print(f"  with a handler that waits 1 ms first ({rounds} interleaved rounds of {count}):")
    ratio = _ratio(slow, "miss", "bare")
    print(f"  no cache {bare:.1f} us, miss {miss:.1f} us: {ratio:.2f} x, {miss - bare:.1f} us added per miss")


def _traced_after_filling(cached: bool, count: int, body: bytes) -> int:
    storage = InMemoryCacheStorage(max_items=1_000_000, max_bytes=1 << 40)
    wsgi = app_with(cached=cached, storage=storage, answer=lambda: body)
    fill(wsgi, range(-50, 0))  # imports, memos and first-use allocations are not per entry
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fill(wsgi, range(count))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used


def fill(wsgi: WsgiApp, numbers: Iterable[int]) -> None:
    for number in numbers:
        request(wsgi, f"/items/{number}")


def memory_per_entry(quick: bool) -> dict[str, float]:
    """Traced bytes per cached response, net of the same requests without the cache, by body kind."""
    small, large = (1200, 2400) if quick else (2000, 10000)

    def slope(cached: bool, body: bytes) -> float:
        grown = _traced_after_filling(cached, large, body) - _traced_after_filling(cached, small, body)
        return grown / (large - small)

    targets = {BODY: "(target: no worse than 1,705 B)", BASE64_BODY: "(target <= 2300 B)", RANDOM_BODY: ""}
    print(f"Memory per cached {len(BODY)}-byte response (tracemalloc, marginal over {small}..{large} responses,")
    print("net of the same requests without the cache)")
    figures = {}
    for label, body in BODIES:
        per_entry = slope(True, body) - slope(False, body)
        figures[label] = per_entry
        extra = f"bookkeeping {per_entry - len(body):.0f} B (target <= 400 B)" if body is RANDOM_BODY else ""
        print(f"  {label + ':':26s} {per_entry:6.0f} B {targets[body]} {extra}".rstrip())
    return figures


def _look_up_price(client: redis.Redis, rounds: int) -> None:
    """What a hit's look-up script costs next to the bare ``MGET`` it replaced, per call: on the
    client (a round trip on loopback, interleaved) and on the server (``INFO commandstats``)."""
    client.set("bench-look:index", b"i" * 150)
    client.set("bench-look:response", b"r" * 1500)
    keys = ["bench-look:epoch", "bench-look:index", "bench-look:response"]
    script = client.script_load(LOOK_UP)
    calls: dict[str, Callable[[], object]] = {
        "mget": lambda: client.mget(keys),
        "evalsha": lambda: client.evalsha(script, 4, *keys, "bench-look:lock", "token", "30000"),
    }
    client.config_resetstat()
    samples: dict[str, list[float]] = {"mget": [], "evalsha": []}
    for number in range(rounds):
        for name in calls if number % 2 == 0 else reversed(list(calls)):
            started = time.perf_counter()
            for _ in range(1000):
                calls[name]()
            samples[name].append((time.perf_counter() - started) / 1000 * 1e6)
    stats = client.info("commandstats")
    client.delete(*keys)
    print("A hit's look-up (the script that can also lock) next to a bare MGET of the same keys")
    for name in calls:
        server = stats[f"cmdstat_{name}"]["usec_per_call"]
        print(f"  {name:8s} round trip {statistics.median(samples[name]):6.1f} us, Redis CPU {server:5.2f} us per call")


def redis_costs(quick: bool, redis_url: str) -> None:
    """Commands per hit and per stored miss, and Redis's own memory per entry by body kind."""
    client = redis.Redis.from_url(redis_url)
    storage = RedisCacheStorage.from_url(redis_url, prefix="bench-trips:")
    wsgi = app_with(cached=True, storage=storage)
    request(wsgi, "/items/warm")  # scripts loaded, connections open
    miss = commands_sent(redis_url, lambda: request(wsgi, "/items/cold"))
    hit = commands_sent(redis_url, lambda: request(wsgi, "/items/cold"))
    print("Redis commands sent per request (MONITOR; each at most a round trip; those scripts ran left out)")
    print(f"  hit: {len(hit)} {' '.join(hit)} (target 1)")
    print(f"  miss that stores: {len(miss)} {' '.join(miss)} (target 2)")
    storage.close()
    _look_up_price(client, 3 if quick else 21)
    count = 300 if quick else 3000
    print(f"Redis memory per cached {len(BODY)}-byte response, {count} unique URLs (Redis's used_memory)")
    for number, (label, body) in enumerate(BODIES):
        storage = RedisCacheStorage.from_url(redis_url, prefix=f"bench-flood-{number}:")
        wsgi = app_with(cached=True, storage=storage, answer=lambda body=body: body)  # type: ignore[misc]
        before = int(client.info("memory")["used_memory"])
        fill(wsgi, range(count))
        used = int(client.info("memory")["used_memory"]) - before
        storage.close()
        print(f"  {label + ':':26s} {used / count:6.0f} B")
    client.close()


def profile_misses(count: int = 5000, shown: int = 30) -> None:
    """Where a miss that stores spends its time: ``cProfile`` of ``count`` misses on new URLs,
    the functions that took longest themselves (the profiler's own cost inflates small calls)."""
    import cProfile
    import pstats

    wsgi = app_with(cached=True, storage=InMemoryCacheStorage(max_items=count * 2))
    _new_urls(wsgi, 200)
    profiler = cProfile.Profile()
    profiler.enable()
    _new_urls(wsgi, count)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(shown)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="The miss row of make bench, alone; or where a miss spends its time.")
    parser.add_argument("--profile", action="store_true", help="profile 5,000 misses instead of timing them")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    arguments = parser.parse_args()
    if arguments.profile:
        profile_misses(500 if arguments.quick else 5000)
    else:
        miss_costs(arguments.quick)
