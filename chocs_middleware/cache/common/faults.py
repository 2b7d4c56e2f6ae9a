"""What goes wrong around the cache: logged without flooding, counted, never allowed to reach the
client (``docs/design.md``, "Failure model").

``RateLimitedLog`` logs each kind of event at most once per interval and says how many it left
out; every log line a request can trigger goes through one. ``Breaker`` decides when a storage
is left alone after faults: only after several in a row (or at once when it refuses writes), and
then tried again with one probe at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from ..clock import SYSTEM_CLOCK, Clock
from ..error import WriteRefused

__all__ = ["BREAKER_THRESHOLD", "FAULT_REST_SECONDS", "Breaker", "FaultLog", "RateLimitedLog", "logger"]

logger = logging.getLogger("chocs_middleware.cache")

FAULT_REST_SECONDS = 1.0
"""How long a storage operation kind is left alone once its breaker opens."""
BREAKER_THRESHOLD = 3
"""Consecutive faults of one kind (reads, writes, locks) that open its breaker: a single transient
error costs one request its cache, not every request for a second."""
_MAX_KINDS = 1024


class RateLimitedLog:
    """Logs each kind of event at most once per ``interval`` seconds, then says how many it left out."""

    def __init__(self, interval: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.interval = interval
        self._clock = clock
        self._last_logged: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def log(
        self, level: int, kind: Hashable, message: str, *args: object, exc_info: BaseException | None = None
    ) -> None:
        now = self._clock.monotonic()
        with self._lock:
            last = self._last_logged.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            if len(self._last_logged) >= _MAX_KINDS:  # kinds come from routes and resources: keep them bounded
                self._last_logged.clear()
            self._last_logged[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        note = f" ({suppressed} more like it in the last {self.interval:g}s not logged)" if suppressed else ""
        logger.log(level, message + "%s", *args, note, exc_info=exc_info)


class FaultLog(RateLimitedLog):
    """Storage faults: counted, and logged at WARNING once per kind (operation and exception type)."""

    def __init__(self, interval: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(interval, clock)
        self.count = 0

    def report(self, operation: str, error: BaseException, route: str) -> None:
        self.count += 1
        self.log(
            logging.WARNING,
            (operation, type(error)),
            "cache storage %s failed on route %s; serving without the cache: %r",
            operation,
            route,
            error,
            exc_info=error,
        )


class Breaker:
    """Whether one kind of storage operation is tried, given how the last ones went.

    Closed: every operation is tried. ``BREAKER_THRESHOLD`` faults in a row (or one
    ``WriteRefused``) open it for ``FAULT_REST_SECONDS``: operations are skipped, so a storage that
    is down or stalled costs a request nothing, and is not hammered while it recovers. After the
    rest it lets one operation through as a probe: its success closes the breaker, its failure
    opens it again.
    """

    __slots__ = ("_clock", "_probe_started", "failures", "open_until", "rested")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.failures = 0
        """Faults in a row (checked on every hit: a success resets it only when it is set)."""
        self.open_until = 0.0
        """Monotonic time until which operations are skipped; 0.0 while closed (checked on every hit)."""
        self._probe_started = 0.0
        self.rested = 0.0
        """Seconds spent open since it was made (for operators)."""

    def allows(self) -> bool:
        """Whether to try the operation now. Call only while ``open_until`` is set."""
        now = self._clock.monotonic()
        if now < self.open_until:
            return False
        if self._probe_started and now - self._probe_started < FAULT_REST_SECONDS:
            return False  # another caller is probing
        self._probe_started = now
        return True

    def succeeded(self) -> None:
        """An operation worked (callers skip the call while ``failures`` is 0)."""
        self.failures = 0
        self.open_until = 0.0
        self._probe_started = 0.0

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        self._probe_started = 0.0
        if self.failures >= BREAKER_THRESHOLD or isinstance(error, WriteRefused):
            self.open_until = self._clock.monotonic() + FAULT_REST_SECONDS
            self.rested += FAULT_REST_SECONDS
