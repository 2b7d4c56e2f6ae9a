"""``python -m chocs_middleware.cache purge``: an operator's purge, against a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.processes import ROOT, free_port
from support.redis_server import RedisServer
from tests.conftest import Harness


def cli(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``python -m chocs_middleware.cache ...`` in a process of its own, with ``environment`` added."""
    inherited = {key: value for key, value in os.environ.items() if key != "CHOCS_CACHE_REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "chocs_middleware.cache", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**inherited, **environment},
    )


def purge(*arguments: str) -> subprocess.CompletedProcess[str]:
    return cli("purge", *arguments)


@pytest.fixture
def app(redis_server: RedisServer, redis_prefix: str) -> Iterator[Harness]:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage)

    @harness.app.get("/items/{id}", cache_expiry=600, cache_groups=("items", "item:{id}"))
    def item(request: HttpRequest) -> HttpResponse:
        harness.count("item")
        return HttpResponse("item")

    yield harness
    storage.close()


def hit(harness: Harness, path: str, host: str = "api.example") -> bool:
    return str(harness.client.get(path, headers={"Host": host}).headers["Cache-Status"]).startswith("chocs-cache; hit")


def test_purge_url_on_every_host(app: Harness, redis_server: RedisServer, redis_prefix: str) -> None:
    for host in ("api.example", "www.example"):
        app.client.get("/items/1?page=2", headers={"Host": host})

    done = purge("--redis", redis_server.url, "--prefix", redis_prefix, "url", "/items/1")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "/items/1: 2 stored responses removed\n"
    assert not hit(app, "/items/1?page=2", "api.example") and not hit(app, "/items/1?page=2", "www.example")


def test_purge_groups_of_one_host_and_everything(app: Harness, redis_server: RedisServer, redis_prefix: str) -> None:
    for path in ("/items/1", "/items/2"):
        app.client.get(path, headers={"Host": "api.example"})
    connection = ("--redis", redis_server.url, "--prefix", redis_prefix)

    one = purge(*connection, "groups", "item:1", "--host", "api.example")
    assert one.stdout == "groups item:1 of api.example: 1 stored response removed\n"
    assert not hit(app, "/items/1") and hit(app, "/items/2")

    everything = purge(*connection, "all")
    assert (
        everything.stdout
        == "everything: every stored response removed (a new epoch: the old entries expire on their own)\n"
    )
    assert not hit(app, "/items/2")


def test_purge_a_route_template_and_a_prefix(redis_server: RedisServer, redis_prefix: str) -> None:
    storage = RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix)
    harness = Harness(storage, purge_patterns=True)

    @harness.app.get("/users/{user_id}", cache_expiry=600)
    def user(request: HttpRequest) -> HttpResponse:
        return HttpResponse("user")

    @harness.app.get("/reports/*", cache_expiry=600)
    def report(request: HttpRequest) -> HttpResponse:
        return HttpResponse("report")

    for path in ("/users/1", "/users/2", "/reports/a/1", "/reports/b/1"):
        harness.client.get(path, headers={"Host": "api.example"})
    connection = ("--redis", redis_server.url, "--prefix", redis_prefix)

    template = purge(*connection, "url", "/users/{user_id}")
    prefix = purge(*connection, "prefix", "/reports/a/")

    assert (template.returncode, template.stdout) == (0, "/users/{user_id}: 2 stored responses removed\n")
    assert (prefix.returncode, prefix.stdout) == (0, "/reports/a/: 1 stored response removed\n")
    assert not hit(harness, "/users/1") and not hit(harness, "/reports/a/1") and hit(harness, "/reports/b/1")
    storage.close()


def test_a_dry_run_counts_and_removes_nothing(app: Harness, redis_server: RedisServer, redis_prefix: str) -> None:
    for path in ("/items/1", "/items/2"):
        app.client.get(path, headers={"Host": "api.example"})
    connection = ("--redis", redis_server.url, "--prefix", redis_prefix, "--dry-run")

    url = purge(*connection, "url", "/items/1")
    groups = purge(*connection, "groups", "items")
    everything = purge(*connection, "all")

    assert url.stdout == "/items/1: would remove 1 stored response (a dry run: nothing was removed)\n"
    assert groups.stdout.endswith(": would remove 2 stored responses (a dry run: nothing was removed)\n")
    assert everything.stdout.startswith("everything: would remove every stored response")
    assert hit(app, "/items/1") and hit(app, "/items/2")


def test_inspect_prints_a_json_line_per_stored_response(
    app: Harness, redis_server: RedisServer, redis_prefix: str
) -> None:
    for host in ("api.example", "www.example"):
        app.client.get("/items/1?page=2", headers={"Host": host})

    done = cli("inspect", "--redis", redis_server.url, "--prefix", redis_prefix, "/items/1")

    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and [record["host"] for record in records] == ["api.example", "www.example"]
    assert all(record["status"] == 200 and record["shared"] for record in records)
    assert hit(app, "/items/1?page=2")


def test_explain_loads_the_apps_middleware_and_says_what_a_request_would_get(
    app: Harness, redis_server: RedisServer, redis_prefix: str
) -> None:
    app.client.get("/items/1", headers={"Host": "api.example"})

    def explain(*arguments: str) -> subprocess.CompletedProcess[str]:
        return cli("explain", *arguments, REDIS_URL=redis_server.url, PREFIX=redis_prefix)

    hit = explain("--middleware", "tests.operations.explain_app:cache", "https://api.example/items/1")
    miss = explain("--middleware", "tests.operations.explain_app:cache", "/items/2", "-H", "Host: api.example")
    wrong = explain("--middleware", "tests.operations.explain_app:nothing", "/items/1")

    assert hit.returncode == 0 and json.loads(hit.stdout)["outcome"] == "hit"
    assert json.loads(miss.stdout) == {"outcome": "miss", "reason": "uri-miss"}
    assert wrong.returncode == 2 and "has no attribute 'nothing'" in wrong.stderr


@pytest.mark.parametrize("prefix", ["/", "https://api.example/", "reports/"])
def test_a_prefix_that_is_not_a_path_below_the_root_exits_2(redis_server: RedisServer, prefix: str) -> None:
    done = purge("--redis", redis_server.url, "prefix", prefix)

    assert done.returncode == 2 and "error:" in done.stderr


def test_a_mistake_in_the_command_exits_2_and_says_what_was_wrong(redis_server: RedisServer) -> None:
    not_a_url = purge("--redis", redis_server.url, "url", "items/1")
    nothing = purge("--redis", redis_server.url, "groups")

    assert not_a_url.returncode == 2
    assert "purge needs a path such as '/users/1'" in not_a_url.stderr and "got 'items/1'" in not_a_url.stderr
    assert nothing.returncode == 2 and "the following arguments are required: GROUP" in nothing.stderr


def test_a_redis_that_cannot_be_reached_exits_1_naming_it() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    failed = purge("--redis", url, "all")

    assert failed.returncode == 1
    assert failed.stderr.startswith(f"error: the purge failed against Redis at {url}: ")
    assert "Connection refused" in failed.stderr


def test_help_describes_every_purge() -> None:
    done = purge("--help")

    assert done.returncode == 0
    assert all(word in done.stdout for word in ("url", "prefix", "groups", "all", "--redis", "--prefix"))


def test_a_prefix_under_which_nothing_is_stored_exits_3_and_purges_nothing(
    app: Harness, redis_server: RedisServer, redis_prefix: str
) -> None:
    app.client.get("/items/1", headers={"Host": "api.example"})

    typo = purge("--redis", redis_server.url, "--prefix", "chocs_cache:", "all")

    assert typo.returncode == 3 and typo.stdout == ""
    assert "nothing is stored under the prefix 'chocs_cache:'" in typo.stderr
    assert hit(app, "/items/1")


def test_a_host_with_nothing_stored_exits_3_naming_the_hosts_that_have(
    app: Harness, redis_server: RedisServer, redis_prefix: str
) -> None:
    app.client.get("/items/1", headers={"Host": "api.example:8000"})
    connection = ("--redis", redis_server.url, "--prefix", redis_prefix)

    without_port = purge(*connection, "groups", "items", "--host", "api.example")
    url = purge(*connection, "url", "https://api.example/items/1")
    with_port = purge(*connection, "groups", "items", "--host", "API.example:8000")

    assert (without_port.returncode, url.returncode) == (3, 3)
    assert "no response of api.example is stored (hosts with stored responses: api.example:8000)" in url.stderr
    assert with_port.returncode == 0 and with_port.stdout.endswith(": 1 stored response removed\n")


def test_a_purge_some_listening_process_did_not_acknowledge_exits_4(
    app: Harness, redis_server: RedisServer, redis_prefix: str
) -> None:
    import redis

    app.client.get("/items/1", headers={"Host": "api.example"})
    deaf = redis.Redis.from_url(redis_server.url).pubsub()  # type: ignore[no-untyped-call]  # never acknowledges
    deaf.subscribe(f"{redis_prefix}changes")
    try:
        done = purge("--redis", redis_server.url, "--prefix", redis_prefix, "url", "/items/1")
    finally:
        deaf.close()

    assert done.returncode == 4
    assert "purge done in storage, but 1 of 1 processes listening for changes did not acknowledge it" in done.stderr
    assert not hit(app, "/items/1")  # done all the same
