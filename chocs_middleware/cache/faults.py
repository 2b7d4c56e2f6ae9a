"""Storage faults: logged, counted, and never allowed to reach the client (``docs/design.md``, "Failure model")."""

from __future__ import annotations

import logging
import threading

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["FaultLog", "logger"]

logger = logging.getLogger("chocs_middleware.cache")


class FaultLog:
    """Logs each kind of fault at WARNING at most once per ``interval`` seconds.

    A storage that is down fails on every request; one line per request would drown the logs.
    The first fault of a kind (operation and exception type) is logged at once, later ones
    within the interval are counted, and the next line says how many were left out.
    """

    def __init__(self, interval: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.interval = interval
        self._clock = clock
        self.count = 0
        self._last_logged: dict[tuple[str, type[BaseException]], float] = {}
        self._suppressed: dict[tuple[str, type[BaseException]], int] = {}
        self._lock = threading.Lock()

    def report(self, operation: str, error: BaseException, route: str) -> None:
        kind = (operation, type(error))
        now = self._clock.monotonic()
        with self._lock:
            self.count += 1
            last = self._last_logged.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last_logged[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        note = f" ({suppressed} more like it in the last {self.interval:g}s not logged)" if suppressed else ""
        logger.warning(
            "cache storage %s failed on route %s; serving without the cache: %r%s",
            operation,
            route,
            error,
            note,
            exc_info=error,
        )
