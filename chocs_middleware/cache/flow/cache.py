"""The cache, framework-free: a middleware's storage, flows and counters, put together once.

A framework's adapter makes one ``Cache`` with its ``Port`` and hands it each request: a read on a
cached route to ``reads.read``, a write to ``writes.write`` (``routes.prepare`` says which a route
is). Nothing here imports a framework.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ..common.faults import FaultLog
from ..decisions.options import MiddlewareOptions
from ..entries.guard import StorageGuard
from ..storages.protocol import ICacheStorage
from .answers import Answers
from .background import Background
from .context import Shared
from .fetch import Fetcher
from .flights import Coalescer
from .grouping import Grouping
from .metrics import Metrics
from .port import Port
from .read import ReadFlow
from .routes import Routes
from .write import WriteFlow

__all__ = ["Cache"]

Response = TypeVar("Response")


class Cache(Generic[Response]):
    """Everything a middleware's requests share: its storage (guarded), flights, counters and flows."""

    def __init__(self, storage: ICacheStorage, options: MiddlewareOptions, port: Port[Response]) -> None:
        clock = options.clock
        self.options = options
        self.faults = FaultLog(clock=clock)
        self.guard = StorageGuard(storage, self.faults, clock, options.max_body_size)
        self.flights: Coalescer[Shared] = Coalescer(options.lock_timeout, clock)
        self.metrics = Metrics()
        self.routes = Routes(self.guard, options, self.faults)
        self._background = Background(self.faults)
        grouping = Grouping(self.faults)
        answers = Answers(port, self.metrics, self.faults, clock.time)
        fetcher = Fetcher(port, answers, self.guard, grouping, options, self.faults)
        self.reads = ReadFlow(
            port,
            answers,
            fetcher,
            self.flights,
            self._background,
            self.metrics,
            options.honour_request_cache_control,
            options.background_revalidation,
            clock.time,
        )
        self.writes = WriteFlow(port, answers, grouping, self.metrics, self.flights.supersede, clock.time)

    @property
    def refreshing(self) -> int:
        """Background refreshes scheduled or running (stale-while-revalidate)."""
        return self._background.pending

    def stats(self) -> dict[str, Any]:
        """This process's counters since the middleware was made (``CacheMiddleware.stats``)."""
        guard = self.guard
        storage: dict[str, Any] = {
            "faults": self.faults.count,
            "rested_seconds": guard.reads.rested + guard.writes.rested + guard.lock_calls.rested,
        }
        own = getattr(guard.storage, "stats", None)
        if callable(own):
            try:
                storage.update(own())
            except Exception as error:  # figures are never worth an error
                self.faults.report("stats", error, "stats()")
        return {**self.metrics.snapshot(), "storage": storage}
