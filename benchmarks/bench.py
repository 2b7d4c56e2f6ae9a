"""``make bench``: what the cache costs and saves, side by side with a bare chocs app.

Every variant runs in this one process, through the WSGI callable that a server would call,
interleaved round by round (so that a slower or faster stretch of the machine hits them all
alike); each figure is the median over rounds of the mean time per request within a round.
Ratios are to (a), the bare app. Run with ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler

from benchmarks.instructions import instructions_per_request
from benchmarks.misses import fill, memory_per_entry, miss_costs, redis_costs
from benchmarks.payload import BODY
from chocs_middleware.cache import (
    CacheMiddleware,
    CollectableInMemoryCacheStorage,
    ICacheStorage,
    InMemoryCacheStorage,
    RedisCacheStorage,
    TieredCacheStorage,
)
from chocs_middleware.cache.entries.serialisation import decode_index
from support.processes import free_port, wait_for_port
from support.redis_server import RedisServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def _start_response(status: str, headers: list[tuple[str, str]]) -> None:
    pass


def environ(path: str = "/items", headers: dict[str, str] | None = None) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "application/json",
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def json_app(*, cached: bool, delay: float = 0.0, storage: ICacheStorage | None = None, body: bytes = BODY) -> WsgiApp:
    if storage is None:
        storage = InMemoryCacheStorage()
    app = Application(CacheMiddleware(storage)) if cached else Application()
    keywords = {"cache_expiry": 3600} if cached else {}

    @app.get("/items", **keywords)
    @app.get("/items/{item_id}", **keywords)
    def items(request: HttpRequest) -> HttpResponse:
        if delay:
            time.sleep(delay)
        return HttpResponse(body, HttpStatus.OK, headers={"content-type": "application/json"})

    return create_wsgi_handler(app)


def first_response_header(wsgi: WsgiApp, name: str) -> str:
    captured: list[list[tuple[str, str]]] = []
    env = environ()
    env["wsgi.input"] = io.BytesIO(b"")
    wsgi(env, lambda status, headers: captured.append(headers)).read()
    return next(value for header, value in captured[0] if header.lower() == name)


@dataclass
class Variant:
    label: str
    wsgi: WsgiApp
    environ: dict[str, Any]
    requests_per_round: int

    def mean_microseconds(self) -> float:
        wsgi, template = self.wsgi, self.environ
        started = time.perf_counter()
        for _ in range(self.requests_per_round):
            env = dict(template)
            env["wsgi.input"] = io.BytesIO(b"")
            wsgi(env, _start_response).read()
        return (time.perf_counter() - started) / self.requests_per_round * 1e6


def warm(variant: Variant) -> Variant:
    variant.requests_per_round, count = 1, variant.requests_per_round
    variant.mean_microseconds()  # the first request of a cached variant is its miss
    variant.requests_per_round = count
    return variant


def interleaved(variants: list[Variant], rounds: int) -> dict[str, list[float]]:
    """Per-round mean cost of each variant; the order alternates so that no variant always goes first."""
    samples: dict[str, list[float]] = {variant.label: [] for variant in variants}
    for number in range(rounds):
        for variant in variants if number % 2 == 0 else reversed(variants):
            samples[variant.label].append(variant.mean_microseconds())
    return samples


def ratio_to(samples: dict[str, list[float]], label: str, baseline: str) -> float:
    """The median over rounds of the per-round ratio: both sides measured in the same stretch of time."""
    return statistics.median(value / base for value, base in zip(samples[label], samples[baseline]))


def request_costs(quick: bool, redis_url: str) -> None:
    rounds, n = (5, 200) if quick else (61, 2000)
    bare = warm(Variant("(a) bare chocs, 2 KB JSON", json_app(cached=False), environ(), n))
    hit = warm(Variant("(b) cache hit, same route", json_app(cached=True), environ(), n))
    slow = warm(Variant("(c) 1 ms handler, no cache", json_app(cached=False, delay=0.001), environ(), max(1, n // 50)))
    cached = json_app(cached=True)
    etag = first_response_header(cached, "etag")
    not_modified = warm(Variant("(d) conditional GET, 304", cached, environ(headers={"If-None-Match": etag}), n))
    redis_storage = RedisCacheStorage.from_url(redis_url, prefix="bench-in-process:")
    redis_hit = warm(
        Variant("(e) cache hit, Redis storage", json_app(cached=True, storage=redis_storage), environ(), n // 4)
    )
    tier = _listening(TieredCacheStorage(RedisCacheStorage.from_url(redis_url, prefix="bench-tiered:")))
    tier_hit = warm(
        Variant("(f) cache hit, Redis + in-process tier", json_app(cached=True, storage=tier), environ(), n)
    )
    variants = [bare, hit, slow, not_modified, redis_hit, tier_hit]
    samples = interleaved(variants, rounds)
    print(f"Per-request cost through the WSGI callable ({rounds} interleaved rounds; median, and median")
    print("of the per-round ratio to (a))")
    for variant in variants:
        median = statistics.median(samples[variant.label])
        ratio = ratio_to(samples, variant.label, bare.label)
        print(f"  {variant.label:40s} {median:9.1f} us   {ratio:6.2f} x (a)")
    ratio = ratio_to(samples, hit.label, bare.label)
    print(f"  hit / bare = {ratio:.2f} (target <= 1.30): {'met' if ratio <= 1.30 else 'NOT met'}")
    ratio = ratio_to(samples, tier_hit.label, bare.label)
    print(f"  Redis + tier hit / bare = {ratio:.2f} (target <= 1.5): {'met' if ratio <= 1.5 else 'NOT met'}")
    redis_storage.close()
    tier.close()


def _listening(tier: TieredCacheStorage) -> TieredCacheStorage:
    deadline = time.monotonic() + 10
    while not tier.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    return tier


def _responses_held(near: CollectableInMemoryCacheStorage) -> list[str]:
    """The ids of the items in a tier that hold a response: apart, or carried by its path's index."""
    return [
        item_id
        for item_id, item in list(near._items.items())
        if item_id.startswith("v") or (item_id.startswith("r") and decode_index(item.body).carried is not None)
    ]


def purge_reaches_other_tiers(quick: bool, redis_url: str) -> None:
    """A purge in one process, and another process's in-process tier: how long the purge takes (it
    returns once every listening tier has dropped its copies), and how many copies were still in
    the other tier when it returned (two tiers with their own connections on one Redis)."""
    count = 100 if quick else 1000
    prefix = "bench-purge-tier:"
    near = CollectableInMemoryCacheStorage()
    reader = _listening(TieredCacheStorage(RedisCacheStorage.from_url(redis_url, prefix=prefix), near))
    writer_storage = _listening(TieredCacheStorage(RedisCacheStorage.from_url(redis_url, prefix=prefix)))
    writer = CacheMiddleware(writer_storage)
    wsgi = json_app(cached=True, storage=reader)
    durations: list[float] = []
    still_held = 0
    for number in range(count):
        fill(wsgi, [number])  # stored through the reader's process...
        held: list[str] = []
        while not held:  # ... and, once its own change has come back, answered from its tier
            fill(wsgi, [number])
            held = _responses_held(near)
        started = time.perf_counter()
        writer.purge(f"http://localhost/items/{number}")
        durations.append(time.perf_counter() - started)
        still_held += any(near.get_many(held))
    reader.close()
    writer_storage.close()
    durations.sort()
    p99 = durations[int(len(durations) * 0.99) - 1] * 1000
    print(f"A purge in one process and another's in-process tier ({count} purges, two tiers on one Redis)")
    print(f"  purge returns after every tier dropped its copies: median {statistics.median(durations) * 1000:.2f} ms,")
    print(f"  p99 {p99:.2f} ms (target <= 50 ms): {'met' if p99 <= 50 else 'NOT met'}; copies still in the other")
    print(f"  tier when the purge returned: {still_held} of {count}")


def group_purge_on_redis(quick: bool, redis_url: str) -> None:
    """A group of 1,000 stored responses purged on Redis: round trips (counted by Redis) and time."""
    count = 200 if quick else 1000
    client = redis.Redis.from_url(redis_url)
    storage = RedisCacheStorage.from_url(redis_url, prefix="bench-purge:")
    middleware = CacheMiddleware(storage)
    app = Application(middleware)

    @app.get("/items/{id}", cache_expiry=600, cache_groups=("items",))
    def item(request: HttpRequest) -> HttpResponse:
        return HttpResponse(BODY, headers={"content-type": "application/json"})

    fill(create_wsgi_handler(app), range(count))
    middleware.purge_groups("nothing", host="localhost")  # a server's first call of a script also loads it
    client.config_resetstat()
    started = time.perf_counter()
    removed = middleware.purge_groups("items", host="localhost")
    elapsed = time.perf_counter() - started
    calls = {name[len("cmdstat_") :]: stats["calls"] for name, stats in client.info("commandstats").items()}
    storage.close()
    client.close()
    sent = {name: number for name, number in calls.items() if name in ("evalsha", "eval", "get", "mget", "scan")}
    print(f"Purge of a group of {count} stored responses on Redis (purge_groups, counted by Redis)")
    print(f"  {removed} removed; round trips sent: {sent}; {elapsed * 1000:.1f} ms")


def _busy(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def stampede_app(cached: bool, work: Callable[[], None], calls: list[int]) -> WsgiApp:
    app = Application(CacheMiddleware(InMemoryCacheStorage())) if cached else Application()
    keywords = {"cache_expiry": 3600} if cached else {}

    @app.get("/report/{round}", **keywords)
    def report(request: HttpRequest) -> HttpResponse:
        calls.append(1)
        work()
        return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})

    return create_wsgi_handler(app)


def one_stampede(wsgi: WsgiApp, path: str, clients: int) -> list[float]:
    """``clients`` threads released at once on one cold key; each one's latency in ms."""
    barrier = threading.Barrier(clients)
    latencies: list[float] = []

    def client() -> None:
        env = environ(path)
        env["wsgi.input"] = io.BytesIO(b"")
        barrier.wait()
        started = time.perf_counter()
        wsgi(env, _start_response).read()
        latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def stampedes(quick: bool) -> None:
    clients, rounds = 32, (2 if quick else 15)
    print(f"Stampede: {clients} concurrent requests on one cold key, {rounds} rounds (a new key each round)")
    handlers: list[tuple[str, Callable[[], None]]] = [
        ("I/O-bound 50 ms handler", lambda: time.sleep(0.05)),
        ("CPU-bound 10 ms handler", lambda: _busy(0.01)),
    ]
    for kind, work in handlers:
        for label, cached in (("no cache", False), ("chocs-cache", True)):
            calls: list[int] = []
            wsgi = stampede_app(cached, work, calls)
            invocations, latencies = [], []
            for number in range(rounds):
                before = len(calls)
                latencies += one_stampede(wsgi, f"/report/{number}", clients)
                invocations.append(len(calls) - before)
            p99 = statistics.quantiles(latencies, n=100)[98]
            print(
                f"  {kind}, {label:11s}: handler runs per stampede {statistics.median(invocations):4.0f}, "
                f"latency median {statistics.median(latencies):6.1f} ms, p99 {p99:6.1f} ms"
            )


def throughput(quick: bool, redis_url: str) -> None:
    """gunicorn, 2 sync workers, loaded by wrk on loopback: requests/s of each route."""
    if shutil.which("wrk") is None:
        print("Throughput: wrk is not installed (`make bench` installs it with apt-get); skipped")
        return
    seconds = 1 if quick else 8
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "benchmarks.served_apps:application",
        ],
        env={**os.environ, "REDIS_URL": redis_url},
    )
    try:
        wait_for_port(port)
        print(f"Throughput: gunicorn (2 sync workers) and wrk (2 threads, 16 connections, {seconds} s) on loopback")
        routes = [
            ("bare chocs route", "/bare"),
            ("in-memory hit", "/memory"),
            ("Redis-cached hit", "/cached"),
            ("Redis + tier hit", "/tiered"),
            ("1 ms handler, no cache", "/slow"),
        ]
        rates = {}
        for label, path in routes:
            subprocess.run(["wrk", "-t1", "-c2", "-d1s", f"http://127.0.0.1:{port}{path}"], capture_output=True)
            result = subprocess.run(
                ["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                capture_output=True,
                text=True,
                check=True,
            )
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
            rates[path] = rate
            print(f"  {label:26s} {rate:9.0f} requests/s")
        print(f"  Redis + tier / in-memory = {tier_ratio(rates)}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def tier_ratio(rates: dict[str, float]) -> str:
    """The tiered hit's rate against the in-memory hit's, or why there is none: a machine too
    busy to finish a request in wrk's window gets a line that says so, not a traceback."""
    if not rates["/memory"]:
        return "not measured: no in-memory hit completed (a busy machine, or a run under a tracer?)"
    ratio = rates["/tiered"] / rates["/memory"]
    return f"{ratio:.2f} (target >= 0.9): {'met' if ratio >= 0.9 else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few rounds only: checks that it runs")
    options = parser.parse_args()
    redis_server = RedisServer()
    try:
        request_costs(options.quick, redis_server.url)
        print()
        miss_costs(options.quick)
        if not options.quick:  # two minutes under valgrind; tests/system runs the tool on its own
            instructions_per_request()
        print()
        memory_per_entry(options.quick)
        redis_costs(options.quick, redis_server.url)
        group_purge_on_redis(options.quick, redis_server.url)
        purge_reaches_other_tiers(options.quick, redis_server.url)
        print()
        stampedes(options.quick)
        print()
        throughput(options.quick, redis_server.url)
    finally:
        redis_server.close()


if __name__ == "__main__":
    main()
