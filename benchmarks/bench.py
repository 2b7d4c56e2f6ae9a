"""``make bench``: what the cache costs and saves, side by side with a bare chocs app.

Every variant runs in this one process, through the WSGI callable that a server would call,
interleaved round by round (so that a slower or faster stretch of the machine hits them all
alike); each figure is the median over rounds of the mean time per request within a round.
Ratios are to (a), the bare app. Run with ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler

from benchmarks.payload import BODY
from chocs_middleware.cache import CacheMiddleware, ICacheStorage, InMemoryCacheStorage, RedisCacheStorage
from tests.processes import free_port, wait_for_port
from tests.redis_server import RedisServer

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


def json_app(*, cached: bool, delay: float = 0.0, storage: ICacheStorage | None = None) -> WsgiApp:
    if storage is None:
        storage = InMemoryCacheStorage()
    app = Application(CacheMiddleware(storage)) if cached else Application()
    keywords = {"cache_expiry": 3600} if cached else {}

    @app.get("/items", **keywords)
    @app.get("/items/{item_id}", **keywords)
    def items(request: HttpRequest) -> HttpResponse:
        if delay:
            time.sleep(delay)
        return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})

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
    variants = [bare, hit, slow, not_modified, redis_hit]
    samples = interleaved(variants, rounds)
    print(f"Per-request cost through the WSGI callable ({rounds} interleaved rounds; median, and median")
    print("of the per-round ratio to (a))")
    for variant in variants:
        median = statistics.median(samples[variant.label])
        ratio = ratio_to(samples, variant.label, bare.label)
        print(f"  {variant.label:34s} {median:9.1f} us   {ratio:6.2f} x (a)")
    ratio = ratio_to(samples, hit.label, bare.label)
    print(f"  hit / bare = {ratio:.2f} (target <= 1.30): {'met' if ratio <= 1.30 else 'NOT met'}")
    redis_storage.close()


def _memory_after_filling(cached: bool, count: int) -> int:
    storage = InMemoryCacheStorage(max_items=1_000_000, max_bytes=1 << 40)
    wsgi = json_app(cached=cached, storage=storage)
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
        env = environ(f"/items/{number}")
        env["wsgi.input"] = io.BytesIO(b"")
        wsgi(env, _start_response).read()


def memory_per_entry(quick: bool) -> float:
    small, large = (1200, 2400) if quick else (2000, 10000)

    def slope(cached: bool) -> float:
        return (_memory_after_filling(cached, large) - _memory_after_filling(cached, small)) / (large - small)

    per_entry = slope(True) - slope(False)
    print(f"Memory per cached {len(BODY)}-byte entry (tracemalloc, marginal over {small}..{large} entries,")
    print("net of the same requests without the cache)")
    print(f"  {per_entry / 1024:.2f} KB (target <= 3 KB): {'met' if per_entry <= 3 * 1024 else 'NOT met'}")
    return per_entry


def redis_memory_per_url(quick: bool, redis_url: str) -> None:
    """What a flood of unique URLs costs in Redis: its own ``used_memory``, per cached response."""
    count = 500 if quick else 5000
    client = redis.Redis.from_url(redis_url)
    storage = RedisCacheStorage.from_url(redis_url, prefix="bench-flood:")
    wsgi = json_app(cached=True, storage=storage)
    before = int(client.info("memory")["used_memory"])
    fill(wsgi, range(count))
    used = int(client.info("memory")["used_memory"]) - before
    storage.close()
    client.close()
    print(f"Redis memory per cached {len(BODY)}-byte response, {count} unique URLs (Redis's used_memory)")
    print(f"  {used / count / 1024:.2f} KiB")


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
        routes = [("bare chocs route", "/bare"), ("Redis-cached hit", "/cached"), ("1 ms handler, no cache", "/slow")]
        for label, path in routes:
            subprocess.run(["wrk", "-t1", "-c2", "-d1s", f"http://127.0.0.1:{port}{path}"], capture_output=True)
            result = subprocess.run(
                ["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                capture_output=True,
                text=True,
                check=True,
            )
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
            print(f"  {label:26s} {rate:9.0f} requests/s")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few rounds only: checks that it runs")
    options = parser.parse_args()
    redis_server = RedisServer()
    try:
        request_costs(options.quick, redis_server.url)
        print()
        memory_per_entry(options.quick)
        redis_memory_per_url(options.quick, redis_server.url)
        group_purge_on_redis(options.quick, redis_server.url)
        print()
        stampedes(options.quick)
        print()
        throughput(options.quick, redis_server.url)
    finally:
        redis_server.close()


if __name__ == "__main__":
    main()
