"""Invalidations the storage did not take: remembered, hidden from readers, retried until they land.

A write's invalidation that fails (Redis down, paused, out of memory) must not leave the old
version served. This process stops serving what was stored before the failure at once
(``PendingInvalidations.hides``), and a background thread retries every pending invalidation,
with a short backoff, whether or not another request comes (``Retrier``): other processes that
share the storage see the write within one retry interval of the storage taking writes again.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

__all__ = ["MAX_PENDING_INVALIDATIONS", "Kind", "Pending", "PendingInvalidations", "Retrier"]

MAX_PENDING_INVALIDATIONS = 10_000
FIRST_RETRY_SECONDS = 0.01
LAST_RETRY_SECONDS = 0.1
"""Retries back off from the first delay to the last, and go on at that pace until they land."""


class Kind(Enum):
    """What an invalidation was of."""

    PATH = "path"
    """A resource's index (every stored response of a path on a host)."""
    GROUP = "group"
    """A cache group (RFC 9875)."""


class Pending(NamedTuple):
    name: str
    """The resource's or the group's id."""
    kind: Kind
    description: str
    """What it was, for log lines (a URL, a group's name)."""


class PendingInvalidations:
    """Invalidations the storage did not take, remembered by this process until a retry lands.

    While one is pending, this process serves no entry of its resource stored before it failed.
    It keeps at most ``MAX_PENDING_INVALIDATIONS``; when one must be forgotten to make room, every
    entry stored before it failed is hidden instead (``hide_before``): the bound costs hits, never
    correctness.
    """

    def __init__(self) -> None:
        self._failed_at: dict[str, tuple[float, Pending]] = {}
        """Id: (when its invalidation last failed, what it was), oldest first."""
        self.hide_before = 0.0
        self.active = False
        """Anything pending or hidden (checked on every hit)."""
        self._lock = threading.Lock()

    def add(self, pending: Pending, now: float) -> None:
        with self._lock:
            self._failed_at.pop(pending.name, None)
            if len(self._failed_at) >= MAX_PENDING_INVALIDATIONS:
                oldest = next(iter(self._failed_at))
                self.hide_before = max(self.hide_before, self._failed_at.pop(oldest)[0])
            self._failed_at[pending.name] = (now, pending)
            self.active = True

    def hides(self, resource: str, stored_at: float) -> bool:
        """Whether a response of ``resource`` stored at ``stored_at`` predates an invalidation the
        storage did not take."""
        failed = self._failed_at.get(resource)
        return stored_at <= self.hide_before or (failed is not None and stored_at <= failed[0])

    def oldest_first(self) -> list[Pending]:
        with self._lock:
            return [pending for _, pending in self._failed_at.values()]

    def done(self, name: str) -> None:
        with self._lock:
            self._failed_at.pop(name, None)
            self.active = bool(self._failed_at) or bool(self.hide_before)

    def __len__(self) -> int:
        return len(self._failed_at)


class Retrier:
    """A thread that retries the pending invalidations while there are any, and then ends.

    Each round tries the oldest first; while the storage still refuses, one attempt per round is
    all it costs (the rest wait for the next round). Rounds start ``FIRST_RETRY_SECONDS`` apart
    and back off to ``LAST_RETRY_SECONDS``.
    """

    def __init__(self, pending: PendingInvalidations, retry: Callable[[Pending], bool]) -> None:
        self._pending = pending
        # Weakly: the thread must not keep a middleware (and its storage) alive that no one uses any more.
        self._retry = weakref.WeakMethod(retry)
        self._lock = threading.Lock()
        self._running = False
        self._woken = threading.Event()

    def wake(self) -> None:
        """An invalidation was added: retry soon (starting the thread when none runs)."""
        self._woken.set()
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, daemon=True, name="chocs-cache invalidation retries").start()

    def _run(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while True:
            self._woken.wait(delay)
            if self._woken.is_set():
                self._woken.clear()
                delay = FIRST_RETRY_SECONDS
            else:
                delay = min(delay * 2, LAST_RETRY_SECONDS)
            if self._round():
                with self._lock:
                    if not len(self._pending):
                        self._running = False
                        return

    def _round(self) -> bool:
        """Retry what is pending, oldest first, until one fails; whether all landed (or whether the
        owner is gone, which ends the thread too)."""
        for pending in self._pending.oldest_first():
            retry = self._retry()
            if retry is None:
                self._pending.done(pending.name)
                continue
            if not retry(pending):
                return False
            self._pending.done(pending.name)
        return True

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is pending (tests and tools); whether it came to that in time."""
        deadline = time.monotonic() + timeout
        while len(self._pending):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True
