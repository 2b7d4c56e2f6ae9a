"""One caller computes, the others wait: stampede protection within a process.

Flights are keyed by variant id, so different keys never wait on each other; the registry's
own lock is held for a dict operation, never while a handler runs. A flight leaves the
registry when its leader finishes, so no lock object outlives the requests that used it.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["Flight", "SingleFlight"]

Result = TypeVar("Result")


class Flight(Generic[Result]):
    """One computation in progress. ``result`` is set before ``done`` is."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Result | None = None

    def wait(self, timeout: float) -> bool:
        """Wait for the leader; False when ``timeout`` seconds passed first."""
        return self.done.wait(timeout)


class SingleFlight(Generic[Result]):
    def __init__(self) -> None:
        self._flights: dict[str, Flight[Result]] = {}
        self._lock = threading.Lock()

    def join(self, key: str) -> tuple[Flight[Result], bool]:
        """The flight for ``key``, and whether the caller leads it (and must ``finish`` it)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def finish(self, key: str, flight: Flight[Result], result: Result | None) -> None:
        """Publish the leader's result (``None``: nothing to share) and release the waiters."""
        flight.result = result
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.done.set()

    def __len__(self) -> int:
        """Flights in progress."""
        return len(self._flights)
