"""An app behind ``CacheMiddleware``, driven through the real WSGI path: for the tests and the benchmarks."""

from __future__ import annotations

import http.client
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import waitress
from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler
from waitress import wasyncore
from webtest import TestApp

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage, ICacheStorage
from chocs_middleware.cache import clock as clocks

__all__ = ["Clock", "Harness", "LiveServer", "concurrently", "header_lines", "versioned_items"]


class Clock(clocks.Clock):
    """A clock the tests move instead of sleeping.

    Wall time stands still unless ``advance``d, so ages and dates are exact; monotonic time runs
    as the system's does (waits and timeouts still end) and jumps forward with ``advance`` too.
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._jumped = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic() + self._jumped

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._jumped += seconds


class Harness:
    """An app with the cache middleware, a WSGI client for it, and a count of handler runs.

    ``clock`` drives the middleware and the default in-memory storage (default: the system's).
    """

    _made: ClassVar[weakref.WeakSet[Harness]] = weakref.WeakSet()

    def __init__(
        self, storage: ICacheStorage | None = None, clock: clocks.Clock = clocks.SYSTEM_CLOCK, **options: Any
    ) -> None:
        self.clock = clock
        self.storage: ICacheStorage = storage if storage is not None else CollectableInMemoryCacheStorage(clock=clock)
        self.middleware = CacheMiddleware(self.storage, clock=clock, **options)
        self.app = Application(self.middleware)
        self.calls: Counter[str] = Counter()
        self.client = TestApp(create_wsgi_handler(self.app), lint=False)
        Harness._made.add(self)

    def count(self, name: str) -> None:
        self.calls[name] += 1

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the middleware's background refreshes have ended (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.middleware.refreshing and time.monotonic() < deadline:
            time.sleep(0.005)

    @classmethod
    def settle_all(cls) -> None:
        """Every harness still in use waits for its refreshes: call it before closing a storage,
        which a refresh still running would otherwise open again (and leave open)."""
        for harness in list(cls._made):
            harness.settle()


def versioned_items(*harnesses: Harness) -> None:
    """``GET /items/{id}`` answers ``v<n>``; ``PATCH`` adds one to n: one database behind every app."""
    version = {"n": 1}
    for harness in harnesses:

        @harness.app.get("/items/{id}", cache_expiry=600)
        def read(request: HttpRequest) -> HttpResponse:
            return HttpResponse(f"v{version['n']}")

        @harness.app.patch("/items/{id}", cache=True)
        def write(request: HttpRequest) -> HttpResponse:
            version["n"] += 1
            return HttpResponse("", 204)


class LiveServer:
    """The app behind a real multi-threaded WSGI server (waitress) on a free loopback port."""

    def __init__(self, app: Application, threads: int = 48) -> None:
        self._server = waitress.create_server(create_wsgi_handler(app), host="127.0.0.1", port=0, threads=threads)
        self.port = int(self._server.effective_port)
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            if not self._closing:  # closing the sockets under the loop ends it this way
                raise

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, headers)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
        finally:
            connection.close()

    def close(self) -> None:
        self._closing = True
        self._server.close()
        self._thread.join(timeout=10)
        # As waitress's own multi-socket server closes: its task threads (closing the server leaves
        # them waiting), then the connections its loop left open.
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._server._map)


def concurrently(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(0..count-1)`` on ``count`` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(number: int) -> None:
        barrier.wait()
        try:
            results[number] = task(number)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def header_lines(response: Any) -> list[tuple[str, str]]:
    """The response's header lines with lower-case names, as the WSGI server received them."""
    return [(name.lower(), value) for name, value in response.headerlist if name.lower() != "content-length"]
