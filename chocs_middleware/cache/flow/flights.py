"""One caller runs the handler, the others wait for its answer: stampede protection.

``Coalescer.join(key)`` answers "lead or follow" for a key within this process. A ``Lead`` on a
storage with a cross-process lock also claims the key across processes (``claim_elsewhere``):
it takes the lock, or waits for the process that holds it to store its answer. A ``Follow``
that is not given an answer goes alone (its caller runs the handler itself).

Flights are keyed by variant id, so different keys never wait on each other; the registry's own
lock is held for a dict operation, never while a handler runs. A flight leaves the registry when
its leader closes it, so nothing outlives the requests that used it, or when its resource is
invalidated (``supersede``): requests that come after the write start a flight of their own, and
the superseded one's answer, computed from what was there before the write, is not stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Generic, Protocol, TypeVar

from ..clock import Clock
from ..error import StorageFault

__all__ = ["Claim", "Coalescer", "CrossProcessLock", "Follow", "Lead"]

Shared = TypeVar("Shared")
Found = TypeVar("Found")

FIRST_POLL_SECONDS = 0.005
LAST_POLL_SECONDS = 0.1


class CrossProcessLock(Protocol):
    """A lock every process sharing the storage sees (``EntryStore`` wraps the storage's)."""

    def acquire_lock(self, name: str, ttl: float) -> tuple[str | None, bool]:
        """(our token or ``None``, whether another process holds the lock); ``StorageFault`` when
        the lock could not be asked for."""

    def release_lock(self, name: str, token: str) -> None: ...


class Claim(Enum):
    """What a leader does when no other process's answer was there to take."""

    RUN = "run"
    """Run the handler (holding the lock across processes, or after waiting past the timeout)."""
    STORAGE_FAILED = "storage-failed"
    """Run the handler, and leave the storage alone: it failed when the lock was asked for."""


class _Flight(Generic[Shared]):
    """One computation in progress. ``result`` is set before ``done`` is."""

    __slots__ = ("done", "key", "resource", "result", "superseded")

    def __init__(self, key: str, resource: str) -> None:
        self.key = key
        self.resource = resource
        self.done = threading.Event()
        self.result: Shared | None = None
        self.superseded = False


class Follow(Generic[Shared]):
    """Another caller runs the handler for this key: wait for its answer."""

    __slots__ = ("_coalescer", "_flight")

    def __init__(self, coalescer: Coalescer[Shared], flight: _Flight[Shared]) -> None:
        self._coalescer = coalescer
        self._flight = flight

    def wait(self) -> Shared | None:
        """The leader's shared answer, or ``None`` (it shared nothing, or took longer than the
        coalescer's timeout): then the caller goes alone."""
        flight, coalescer = self._flight, self._coalescer
        try:
            return flight.result if flight.done.wait(coalescer.timeout) else None
        finally:
            with coalescer._lock:
                coalescer.waiting -= 1


class Lead(Generic[Shared]):
    """This caller runs the handler for the key, and must ``close`` the flight when done."""

    __slots__ = ("_coalescer", "_flight", "_token")

    def __init__(self, coalescer: Coalescer[Shared], flight: _Flight[Shared]) -> None:
        self._coalescer = coalescer
        self._flight = flight
        self._token: tuple[CrossProcessLock, str] | None = None

    def claim_elsewhere(self, lock: CrossProcessLock, found_elsewhere: Callable[[], Found | None]) -> Found | Claim:
        """With a storage that has a cross-process lock: take it, or wait for the process holding
        it to store an answer (``found_elsewhere`` looks, and returns it). Else a ``Claim``: this
        process runs the handler (it holds the lock, or waited past the timeout), or the storage
        failed when the lock was asked for (and the caller leaves it alone from then on).

        Waiting polls the lock alone, one call per poll: the holder stores its answer before it
        releases the lock, so the first poll that takes the lock looks once for that answer (and
        gives the lock back when it is there)."""
        key, timeout, clock = self._flight.key, self._coalescer.timeout, self._coalescer.clock
        deadline = clock.monotonic() + timeout
        delay = FIRST_POLL_SECONDS
        try:
            token, held_elsewhere = lock.acquire_lock(key, timeout)
            waited = held_elsewhere
            while held_elsewhere:
                if clock.monotonic() + delay > deadline:
                    late = found_elsewhere()  # past the timeout: its answer if it came, else go alone
                    return Claim.RUN if late is None else late
                time.sleep(delay)  # backing off: waiting costs the storage a few calls, not a busy loop
                delay = min(delay * 2, LAST_POLL_SECONDS)
                token, held_elsewhere = lock.acquire_lock(key, timeout)
        except StorageFault:
            return Claim.STORAGE_FAILED
        if token is not None:
            self._token = (lock, token)
        if not waited:
            return Claim.RUN
        found = found_elsewhere()  # the holder finished: its answer, unless it stored none
        if found is None:
            return Claim.RUN
        if token is not None:
            self._token = None
            lock.release_lock(key, token)
        return found

    @property
    def superseded(self) -> bool:
        """Its resource was invalidated in this process while it ran: its answer may predate the write."""
        return self._flight.superseded

    def share(self, result: Shared | None) -> None:
        """What the followers are given (``None``: nothing; they go alone)."""
        self._flight.result = result

    def close(self) -> None:
        """Release the lock across processes, leave the registry, wake the followers."""
        if self._token is not None:
            lock, token = self._token
            self._token = None
            lock.release_lock(self._flight.key, token)
        self._coalescer._leave(self._flight)
        self._flight.done.set()


class Coalescer(Generic[Shared]):
    def __init__(self, timeout: float, clock: Clock) -> None:
        self.timeout = timeout
        """Seconds a follower waits for its leader, and a leader for another process's lock."""
        self.clock = clock
        self._flights: dict[str, _Flight[Shared]] = {}
        self._lock = threading.Lock()
        self.waiting = 0
        """Callers waiting for a leader right now."""

    def join(self, key: str, resource: str) -> Lead[Shared] | Follow[Shared]:
        """``Lead`` when no one computes ``key`` (a variant of ``resource``) in this process yet,
        else ``Follow`` the one who does."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight(key, resource)
                return Lead(self, flight)
            self.waiting += 1
        return Follow(self, flight)

    def supersede(self, resource: str) -> None:
        """Take the flights of ``resource`` out of the registry, marked superseded: it was invalidated."""
        with self._lock:
            superseded = [key for key, flight in self._flights.items() if flight.resource == resource]
            for key in superseded:
                self._flights.pop(key).superseded = True

    def _leave(self, flight: _Flight[Shared]) -> None:
        with self._lock:
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]

    def __len__(self) -> int:
        """Flights in progress."""
        return len(self._flights)
