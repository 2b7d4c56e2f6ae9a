"""``make soak``: gunicorn (4 workers) over Redis with in-process tiers, under load for a while,
with Redis restarted once mid-run and a purge every second.

It reports requests served, 5xx answers, responses served after their purge was acknowledged
(stale answers), worker memory at start and end, and Redis keys without a TTL; it exits with 1
when any of 5xx, stale answers or keys without a TTL is not 0. ``--seconds`` sets the length
(``make soak``: 60; the test suite runs 10).

The load is wrk (2 threads, 16 connections, random items) when it is installed, plus a checker
that reads bodies: each body carries the data's version, and a request that starts after a
purge was acknowledged must see at least the version written before that purge.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from chocs_middleware.cache.clock import SYSTEM_CLOCK
from chocs_middleware.cache.common.faults import FaultLog
from chocs_middleware.cache.entries.guard import StorageGuard
from chocs_middleware.cache.operations.purge import Purger
from chocs_middleware.cache.redis_storage import RedisCacheStorage
from support.processes import free_port, wait_for_port
from support.redis_server import RedisServer

ITEMS = 200
APP = "benchmarks.soak_app:application"
QUIET = ("--log-level", "warning")
WRK_SCRIPT = f"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, {ITEMS}))
end
"""


@dataclass
class Observations:
    acknowledged: list[tuple[float, int]] = field(default_factory=list)
    """(when a purge returned, the data version written before it)."""
    answers: list[tuple[float, int, int]] = field(default_factory=list)
    """(when a checked request started, its status, the version its body carried)."""
    purge_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker_rss(master: int) -> dict[int, int]:
    """Resident memory (KiB) of each gunicorn worker (the master's children)."""
    sizes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rfind(")") + 2 :].split()[1])
            if parent == master:
                status = (entry / "status").read_text()
                sizes[int(entry.name)] = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            continue
    return sizes


def check(port: int, stop: threading.Event, seen: Observations) -> None:
    """Read bodies, noting the version each request saw and when it started."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", f"/items/{random.randint(1, ITEMS)}")
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
        except OSError:
            continue
        match = re.search(r" v(\d+)$", body)
        with seen.lock:
            seen.answers.append((started, response.status, int(match.group(1)) if match else -1))


def purge_every_second(version_file: Path, redis_url: str, stop: threading.Event, seen: Observations) -> None:
    """Raise the data's version, then purge the group; note when the purge was acknowledged."""
    storage = RedisCacheStorage.from_url(redis_url, prefix="soak:", timeout=1.0)
    purger = Purger(StorageGuard(storage, FaultLog(clock=SYSTEM_CLOCK), SYSTEM_CLOCK))
    version = 1
    while not stop.wait(1.0):
        version += 1
        written = version_file.with_suffix(".next")
        written.write_text(str(version))
        os.replace(written, version_file)  # at once: a handler never reads a half-written version
        try:
            purger.purge_groups(["items"])
        except Exception:
            with seen.lock:
                seen.purge_failures += 1  # Redis is down: the data changed, no purge was acknowledged
            continue
        with seen.lock:
            seen.acknowledged.append((time.monotonic(), version))
    storage.close()


def stale_answers(seen: Observations) -> list[str]:
    """Answers to requests that started after a purge was acknowledged, with older data than it."""
    stale = []
    for started, status, version in seen.answers:
        if status != 200:
            continue
        acked = [(when, acked) for when, acked in seen.acknowledged if when < started]
        if acked and version < acked[-1][1]:
            stale.append(f"v{version} {1000 * (started - acked[-1][0]):.1f} ms after v{acked[-1][1]} was acknowledged")
    return stale


def keys_without_ttl(redis_url: str) -> int:
    """Keys of the cache that Redis would keep for ever: none, but the epoch a ``purge_all`` writes."""
    client = redis.Redis.from_url(redis_url)
    count = sum(1 for key in client.scan_iter("soak:*") if client.pttl(key) == -1 and key != b"soak:epoch")
    client.close()
    return count


@dataclass
class SoakRun:
    """What one run saw: the checker's answers and purges, wrk's summary, the workers' memory
    before and after, and the Redis keys left without a TTL."""

    seen: Observations
    wrk_output: str
    rss_start: dict[int, int]
    rss_end: dict[int, int]
    untimed: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="how long the load runs (default: 60)")
    seconds = max(6, parser.parse_args().seconds)
    return report(soak(seconds), seconds)


def soak(seconds: int) -> SoakRun:
    """gunicorn with 4 workers over Redis for ``seconds`` under wrk's load, the checker and a purge
    a second, with Redis restarted (empty) halfway."""
    server = RedisServer()
    directory = Path(tempfile.mkdtemp(prefix="chocs-cache-soak-"))
    version_file = directory / "version"
    version_file.write_text("1")
    port = free_port()
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}", *QUIET, APP],
        env={**os.environ, "REDIS_URL": server.url, "SOAK_VERSION_FILE": str(version_file)},
    )
    stop = threading.Event()
    seen = Observations()
    try:
        wait_for_port(port)
        time.sleep(1.0)  # every worker imported the app and subscribed
        rss_start = worker_rss(gunicorn.pid)
        threads = [
            threading.Thread(target=check, args=(port, stop, seen), daemon=True),
            threading.Thread(target=purge_every_second, args=(version_file, server.url, stop, seen), daemon=True),
        ]
        for thread in threads:
            thread.start()
        wrk = start_wrk(directory, port, seconds)
        time.sleep(seconds / 2)
        server.stop()  # Redis restarts mid-run, empty (no persistence)
        time.sleep(1.0)
        server.start()
        time.sleep(seconds / 2 - 1.0)
        wrk_output = wrk.communicate(timeout=seconds + 30)[0] if wrk is not None else ""
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        return SoakRun(seen, wrk_output, rss_start, worker_rss(gunicorn.pid), keys_without_ttl(server.url))
    finally:
        stop.set()
        gunicorn.terminate()
        gunicorn.wait(timeout=15)
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


def start_wrk(directory: Path, port: int, seconds: int) -> subprocess.Popen[str] | None:
    """wrk asking for the soak's items for ``seconds`` (``None``: wrk is not installed)."""
    if not shutil.which("wrk"):
        return None
    script = directory / "items.lua"
    script.write_text(WRK_SCRIPT)
    return subprocess.Popen(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        text=True,
    )


def report(run: SoakRun, seconds: int) -> int:
    """Print what the run saw; 1 when anything must-be-0 was not."""
    wrk_output, seen = run.wrk_output, run.seen
    wrk_requests = int(re.search(r"(\d+) requests in", wrk_output).group(1)) if "requests in" in wrk_output else 0  # type: ignore[union-attr]
    wrk_bad = int(re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_output).group(1)) if "Non-2xx" in wrk_output else 0  # type: ignore[union-attr]
    checked_5xx = sum(1 for _, status, _ in seen.answers if status >= 500)
    stale = stale_answers(seen)
    print(f"Soak: gunicorn, 4 workers, Redis + in-process tiers, {seconds} s; Redis restarted once; a purge a second")
    served = wrk_requests + len(seen.answers)
    print(f"  requests served            {served} (wrk {wrk_requests}, checker {len(seen.answers)})")
    print(f"  5xx answers                {checked_5xx + wrk_bad} (must be 0; wrk counts every non-2xx/3xx)")
    print(f"  purges acknowledged        {len(seen.acknowledged)} ({seen.purge_failures} failed while Redis was down)")
    print(f"  stale after a purge        {len(stale)} (must be 0)" + "".join(f"\n    {line}" for line in stale[:5]))
    pids = sorted(set(run.rss_start) | set(run.rss_end))
    rss = ", ".join(f"{run.rss_start.get(pid, 0)} -> {run.rss_end.get(pid, 0)}" for pid in pids)
    print(f"  worker RSS, KiB            {rss}")
    print(f"  Redis keys without a TTL   {run.untimed} (must be 0)")
    return 1 if checked_5xx + wrk_bad or stale or run.untimed else 0


if __name__ == "__main__":
    sys.exit(main())
