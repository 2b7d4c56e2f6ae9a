"""Reads after writes, under load: does any read that starts after a write completed return an
older version? (docs/deployment.md: "what holds under concurrent writes").

One writer PATCHes an article in a loop while readers GET it. Each reader notes the newest
version whose write had completed before its request started; an answer older than that is a
stale read. Two set-ups, each run side by side with the same load:

- memory: one waitress server (48 threads) in this process, ``InMemoryCacheStorage``;
- redis: two server processes on one real redis-server, requests spread over both.

``python -m benchmarks.consistency [--seconds 6] [--readers 6]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from chocs import HttpRequest, HttpResponse

from support.harness import Harness, LiveServer
from support.processes import free_port, wait_for_port
from support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
HOST = {"Host": "api.example"}
_VERSION = re.compile(rb"v(\d+)")


@dataclass
class Outcome:
    reads: int
    stale_reads: int
    writes: int


def request(port: int, method: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=b"{}" if method != "GET" else None, headers=HOST)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(ports: list[int], seconds: float, readers: int) -> Outcome:
    """One writer and ``readers`` readers on ``/articles/1`` for ``seconds``, spread over ``ports``."""
    completed = [1]  # the newest version whose write has returned (version 1 needs no write)
    counts = {"reads": 0, "stale": 0, "writes": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def write() -> None:
        number = 0
        while time.monotonic() < deadline:
            status, _ = request(ports[number % len(ports)], "PATCH", "/articles/1")
            assert status in (200, 204), status
            number += 1
            with lock:
                completed[0] += 1
                counts["writes"] += 1
            time.sleep(0.005)

    def read(reader: int) -> None:
        number = reader
        while time.monotonic() < deadline:
            with lock:
                floor = completed[0]
            status, body = request(ports[number % len(ports)], "GET", "/articles/1")
            number += 1
            match = _VERSION.search(body)
            assert status == 200 and match, (status, body)
            with lock:
                counts["reads"] += 1
                counts["stale"] += int(match.group(1)) < floor

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(n,)) for n in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Outcome(counts["reads"], counts["stale"], counts["writes"])


@contextmanager
def memory_server(delay: float) -> Iterator[list[int]]:
    harness = Harness()
    version = [1]

    @harness.app.get("/articles/{id}", cache_expiry=600)
    def read(request: HttpRequest) -> HttpResponse:
        seen = version[0]
        time.sleep(delay)  # the answer leaves a while after the data was read
        return HttpResponse(f"article v{seen}")

    @harness.app.patch("/articles/{id}", cache=True)
    def update(request: HttpRequest) -> HttpResponse:
        version[0] += 1
        return HttpResponse("", 204)

    server = LiveServer(harness.app)
    try:
        yield [server.port]
    finally:
        server.close()


@contextmanager
def redis_processes(delay: float) -> Iterator[list[int]]:
    redis_server = RedisServer()
    ports = [free_port(), free_port()]
    environment = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "PREFIX": f"consistency-{uuid.uuid4().hex[:8]}:",
        "DELAY": str(delay),
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", "tests.redis_app"], cwd=ROOT, env={**environment, "PORT": str(port)})
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        redis_server.close()


SETUPS: dict[str, Callable[[float], AbstractContextManager[list[int]]]] = {
    "memory, one waitress process": memory_server,
    "redis, two processes": redis_processes,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between a read of the data and its answer")
    options = parser.parse_args()
    print(f"Reads after writes: 1 writer, {options.readers} readers, {options.seconds:g} s per set-up")
    for label, setup in SETUPS.items():
        with setup(options.delay) as ports:
            outcome = load(ports, options.seconds, options.readers)
        print(
            f"  {label:30s} {outcome.reads:6d} reads, {outcome.writes:5d} writes, "
            f"{outcome.stale_reads} reads older than a write completed before they started"
        )


if __name__ == "__main__":
    main()
