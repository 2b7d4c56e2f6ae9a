"""Several processes, one Redis: one cache for all of them (a real redis-server, real processes)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
import redis

from support.redis_server import RedisServer
from tests.conftest import concurrently
from tests.processes import ROOT, AppProcess

pytestmark = pytest.mark.system


@pytest.fixture
def processes(redis_server: RedisServer, redis_prefix: str) -> Iterator[Callable[[float], list[AppProcess]]]:
    started: list[AppProcess] = []

    def start(delay: float = 0.0) -> list[AppProcess]:
        started.extend(AppProcess(redis_server.url, redis_prefix, delay) for _ in range(2))
        return started[-2:]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def runs(redis_server: RedisServer, redis_prefix: str) -> Iterator[Callable[[str], int]]:
    client = redis.Redis.from_url(redis_server.url)
    yield lambda article: int(client.get(f"{redis_prefix}runs:{article}") or 0)
    client.close()


def test_the_handler_runs_once_for_a_key_across_processes(
    processes: Callable[[float], list[AppProcess]], runs: Callable[[str], int]
) -> None:
    first, second = processes(0.0)

    _, body, _ = first.request("GET", "/articles/1")
    _, from_second, cache_status = second.request("GET", "/articles/1")

    assert from_second == body
    assert cache_status.startswith("chocs-cache; hit")
    assert runs("1") == 1


def test_a_patch_on_one_process_invalidates_the_other(
    processes: Callable[[float], list[AppProcess]], runs: Callable[[str], int]
) -> None:
    first, second = processes(0.0)
    first.request("GET", "/articles/7")
    assert second.request("GET", "/articles/7")[2].startswith("chocs-cache; hit")

    first.request("PATCH", "/articles/7")
    _, body, cache_status = second.request("GET", "/articles/7")

    assert "v2" in body
    assert cache_status.startswith("chocs-cache; fwd=uri-miss")
    assert runs("7") == 2


def test_a_stampede_across_processes_runs_the_handler_once(
    processes: Callable[[float], list[AppProcess]], runs: Callable[[str], int]
) -> None:
    pair = processes(0.3)

    results = concurrently(24, lambda n: pair[n % 2].request("GET", "/articles/42"))

    assert {status for status, _, _ in results} == {200}
    assert len({body for _, body, _ in results}) == 1
    assert runs("42") == 1


def test_a_group_invalidation_on_one_process_reaches_the_other(
    processes: Callable[[float], list[AppProcess]], runs: Callable[[str], int]
) -> None:
    first, second = processes(0.0)
    for article in ("1", "2"):
        first.request("GET", f"/articles/{article}")

    assert first.request("POST", "/articles")[0] == 201

    assert all(second.request("GET", f"/articles/{article}")[2].startswith("chocs-cache; fwd=") for article in "12")
    assert runs("1") == runs("2") == 2


def test_a_purge_from_the_command_line_reaches_every_process_at_once(
    processes: Callable[[float], list[AppProcess]], redis_server: RedisServer, redis_prefix: str
) -> None:
    first, second = processes(0.0)
    first.request("GET", "/articles/3")
    assert second.request("GET", "/articles/3")[2].startswith("chocs-cache; hit")

    command = ["purge", "--redis", redis_server.url, "--prefix", redis_prefix, "url", "/articles/3"]
    done = subprocess.run(
        [sys.executable, "-m", "chocs_middleware.cache", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout == "/articles/3: 1 stored response removed\n"
    assert first.request("GET", "/articles/3")[2].startswith("chocs-cache; fwd=uri-miss")
    assert second.request("GET", "/articles/3")[2].startswith("chocs-cache; hit")  # the first stored it again
