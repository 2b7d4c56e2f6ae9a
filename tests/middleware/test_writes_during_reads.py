"""A write that lands while a read is in flight is never undone (RFC 9111 §4.4; docs/design.md).

Each test holds a GET's handler after it read the data, lands a PATCH meanwhile, and lets the
GET finish: deterministic interleavings with events, through a real multi-threaded server. The
same holds across two middleware instances on one Redis, which stand for two processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import RedisCacheStorage
from support.harness import Harness, LiveServer
from support.redis_server import RedisServer

StartServer = Callable[[Harness], LiveServer]


class Article:
    """The data behind the routes, and a way to hold a read after it has read it."""

    def __init__(self) -> None:
        self.version = 1
        self.reads = 0
        self.hold_next_read = threading.Event()
        self.read_taken = threading.Event()
        self.release = threading.Event()

    def routes(self, harness: Harness) -> None:
        @harness.app.get("/articles/{id}", cache_expiry=600)
        def read(request: HttpRequest) -> HttpResponse:
            version = self.version  # the read happens here...
            self.reads += 1
            if self.hold_next_read.is_set():
                self.hold_next_read.clear()
                self.read_taken.set()
                self.release.wait(10)  # ... and the answer leaves later
            return HttpResponse(f"v{version}")

        @harness.app.patch("/articles/{id}", cache=True)
        def write(request: HttpRequest) -> HttpResponse:
            self.version += 1
            return HttpResponse("", 204)


@pytest.fixture
def article() -> Iterator[Article]:
    shared = Article()
    yield shared
    shared.release.set()


HOST = {"Host": "api.example"}  # every request names one host, whichever server it reaches


def start_held_read(server: LiveServer, article: Article) -> tuple[threading.Thread, list[bytes]]:
    article.hold_next_read.set()
    answers: list[bytes] = []
    reader = threading.Thread(target=lambda: answers.append(server.get("/articles/1", HOST)[2]))
    reader.start()
    assert article.read_taken.wait(10)
    return reader, answers


def test_a_read_computed_before_a_write_is_not_stored_after_it(live: StartServer, article: Article) -> None:
    harness = Harness()
    article.routes(harness)
    server = live(harness)
    reader, old = start_held_read(server, article)

    assert server.request("PATCH", "/articles/1", HOST, b"x")[0] == 204
    article.release.set()
    reader.join()
    _, headers, body = server.get("/articles/1", HOST)

    assert old == [b"v1"]  # it started before the write: the old version is its answer
    assert body == b"v2"
    assert headers["cache-status"].startswith("chocs-cache; fwd=uri-miss")


def test_a_read_that_starts_after_a_write_does_not_join_a_read_from_before(live: StartServer, article: Article) -> None:
    harness = Harness()
    article.routes(harness)
    server = live(harness)
    reader, _ = start_held_read(server, article)

    server.request("PATCH", "/articles/1", HOST, b"x")
    retired = len(harness.middleware._cache.flights) == 0  # the held read's flight left the registry
    later = server.get("/articles/1", HOST)  # the first read is still in flight
    article.release.set()
    reader.join()

    assert retired
    assert later[2] == b"v2"
    assert "collapsed" not in later[1]["cache-status"]
    assert article.reads == 2


def test_the_held_read_says_it_was_invalidated_meanwhile(live: StartServer, article: Article) -> None:
    harness = Harness()
    article.routes(harness)
    server = live(harness)
    article.hold_next_read.set()
    statuses: list[str] = []
    reader = threading.Thread(target=lambda: statuses.append(server.get("/articles/1", HOST)[1]["cache-status"]))
    reader.start()
    assert article.read_taken.wait(10)

    server.request("PATCH", "/articles/1", HOST, b"x")
    article.release.set()
    reader.join()

    assert statuses == ["chocs-cache; fwd=uri-miss; fwd-status=200; detail=invalidated-meanwhile"]


class TestAcrossProcessesOnRedis:
    """Two middleware instances, each with its own connections, on one real redis-server."""

    @pytest.fixture
    def pair(self, redis_server: RedisServer, redis_prefix: str, article: Article) -> Iterator[list[Harness]]:
        storages = [RedisCacheStorage.from_url(redis_server.url, prefix=redis_prefix) for _ in range(2)]
        harnesses = [Harness(storage) for storage in storages]
        for harness in harnesses:
            article.routes(harness)
        yield harnesses
        for storage in storages:
            storage.close()

    def test_a_read_computed_before_a_write_elsewhere_is_not_stored_after_it(
        self, live: StartServer, article: Article, pair: list[Harness]
    ) -> None:
        reading, writing = pair
        reader, old = start_held_read(live(reading), article)

        live(writing).request("PATCH", "/articles/1", HOST, b"x")
        article.release.set()
        reader.join()

        assert old == [b"v1"]
        assert live(writing).get("/articles/1", HOST)[2] == b"v2"
        assert live(reading).get("/articles/1", HOST)[2] == b"v2"

    def test_a_read_that_joins_a_flight_after_a_write_elsewhere_is_not_given_its_answer(
        self, live: StartServer, article: Article, pair: list[Harness]
    ) -> None:
        reading, writing = pair
        server = live(reading)
        reader, _ = start_held_read(server, article)

        live(writing).request("PATCH", "/articles/1", HOST, b"x")
        follower: list[bytes] = []
        joining = threading.Thread(target=lambda: follower.append(server.get("/articles/1", HOST)[2]))
        joining.start()
        while reading.middleware._cache.flights.waiting == 0:  # until it waits on the held flight
            threading.Event().wait(0.001)
        article.release.set()
        reader.join()
        joining.join()

        assert follower == [b"v2"]
