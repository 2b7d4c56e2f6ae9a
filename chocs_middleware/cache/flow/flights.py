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
from collections.abc import Callable
from enum import Enum
from typing import Generic, Protocol, TypeVar

from ..clock import Clock
from ..entries.outcomes import Claimed, HeldLock
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
    """One computation in progress. ``result`` is set before ``done`` is. ``done`` is made when
    the first follower joins (under the coalescer's lock): most flights have none to wake.

    A follower whose lookup took the key's lock across processes (``Claimed``) hands it to the
    leader (``handed``; ``handover`` wakes a leader waiting for that lock), which would otherwise
    wait for it as if another process held it."""

    __slots__ = ("closed", "done", "handed", "handover", "key", "resource", "result", "superseded")

    def __init__(self, key: str, resource: str) -> None:
        self.key = key
        self.resource = resource
        self.done: threading.Event | None = None
        self.result: Shared | None = None
        self.superseded = False
        self.closed = False
        self.handed: str | None = None
        self.handover: threading.Event | None = None


class Follow(Generic[Shared]):
    """Another caller runs the handler for this key: wait for its answer."""

    __slots__ = ("_coalescer", "_flight")

    def __init__(self, coalescer: Coalescer[Shared], flight: _Flight[Shared]) -> None:
        self._coalescer = coalescer
        self._flight = flight

    def hand_over(self, token: str) -> bool:
        """Give the leader the key's lock, which this follower's lookup took; ``False`` when the
        flight has closed (the caller releases the lock itself)."""
        flight, coalescer = self._flight, self._coalescer
        with coalescer._lock:
            if flight.closed:
                return False
            flight.handed = token
            woken = flight.handover
        if woken is not None:
            woken.set()
        return True

    def wait(self) -> Shared | None:
        """The leader's shared answer, or ``None`` (it shared nothing, or took longer than the
        coalescer's timeout): then the caller goes alone."""
        flight, coalescer = self._flight, self._coalescer
        assert flight.done is not None  # made when this follower joined
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
        self._token: tuple[CrossProcessLock, HeldLock] | None = None

    @property
    def held(self) -> HeldLock | None:
        """The lock across processes this leader holds, if any."""
        return None if self._token is None else self._token[1]

    def claim_elsewhere(
        self, lock: CrossProcessLock, found_elsewhere: Callable[[], Found | None], claimed: Claimed | None = None
    ) -> Found | Claim:
        """With a storage that has a cross-process lock: take it, or wait for the process holding
        it to store an answer (``found_elsewhere`` looks, and returns it). Else a ``Claim``: this
        process runs the handler (it holds the lock, or waited past the timeout), or the storage
        failed when the lock was asked for (and the caller leaves it alone from then on).

        Waiting polls the lock alone, one call per poll: the holder stores its answer before it
        releases the lock, so the first poll that takes the lock looks once for that answer (and
        gives the lock back when it is there). ``claimed``: the lock as the lookup already asked for
        it (taken, or held elsewhere), so that it is not asked again."""
        key, timeout, clock = self._flight.key, self._coalescer.timeout, self._coalescer.clock
        deadline = clock.monotonic() + timeout
        delay = FIRST_POLL_SECONDS
        try:
            if claimed is not None and (claimed.token is not None or claimed.elsewhere):
                token, held_elsewhere = claimed.token, claimed.elsewhere
            else:
                token, held_elsewhere = lock.acquire_lock(key, timeout)
            waited = held_elsewhere
            while held_elsewhere:
                if clock.monotonic() + delay > deadline:
                    late = found_elsewhere()  # past the timeout: its answer if it came, else go alone
                    return Claim.RUN if late is None else late
                token = self._handed_within(delay)  # backing off: a few calls to the storage, no busy loop
                if token is not None:
                    waited = False  # the holder was a follower in this process: nothing was stored
                    break
                delay = min(delay * 2, LAST_POLL_SECONDS)
                token, held_elsewhere = lock.acquire_lock(key, timeout)
        except StorageFault:
            return Claim.STORAGE_FAILED
        if token is not None:
            self._token = (lock, HeldLock(key, token))
        if not waited:
            return Claim.RUN
        found = found_elsewhere()  # the holder finished: its answer, unless it stored none
        if found is None:
            return Claim.RUN
        if token is not None:
            self._token = None
            lock.release_lock(key, token)
        return found

    def _handed_within(self, seconds: float) -> str | None:
        """The key's lock, when a follower of this flight hands it over within ``seconds``."""
        flight, coalescer = self._flight, self._coalescer
        with coalescer._lock:
            if flight.handed is None and flight.handover is None:
                flight.handover = threading.Event()
            woken = flight.handover
        if flight.handed is None and woken is not None:
            woken.wait(seconds)
        with coalescer._lock:
            token, flight.handed = flight.handed, None
        return token

    @property
    def superseded(self) -> bool:
        """Its resource was invalidated in this process while it ran: its answer may predate the write."""
        return self._flight.superseded

    def share(self, result: Shared | None) -> None:
        """What the followers are given (``None``: nothing; they go alone)."""
        self._flight.result = result

    def close(self, lock_owner: CrossProcessLock | None = None) -> None:
        """Release the lock across processes, leave the registry, wake the followers. A lock a
        follower handed over too late to be used is released through ``lock_owner``."""
        if self._token is not None:
            lock, held = self._token
            self._token = None
            if not held.released:
                held.released = True
                lock.release_lock(held.name, held.token)
        done, handed = self._coalescer._leave(self._flight)
        if handed is not None and lock_owner is not None:
            lock_owner.release_lock(self._flight.key, handed)  # handed over after this leader ran
        if done is not None:
            done.set()


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
            if flight.done is None:
                flight.done = threading.Event()
            self.waiting += 1
        return Follow(self, flight)

    def supersede(self, resource: str) -> None:
        """Take the flights of ``resource`` out of the registry, marked superseded: it was invalidated."""
        with self._lock:
            superseded = [key for key, flight in self._flights.items() if flight.resource == resource]
            for key in superseded:
                self._flights.pop(key).superseded = True

    def _leave(self, flight: _Flight[Shared]) -> tuple[threading.Event | None, str | None]:
        """Take ``flight`` out of the registry, closed; its followers' event, if any joined, and a
        lock handed over and not taken (read under the lock: no one joins a closed flight)."""
        with self._lock:
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]
            flight.closed = True
            handed, flight.handed = flight.handed, None
            return flight.done, handed

    def __len__(self) -> int:
        """Flights in progress."""
        return len(self._flights)
