"""Work that runs after the response has left: stale-while-revalidate refreshes (RFC 5861 §3).

A few threads, made on first use, and a bounded number of refreshes waiting: when the queue is
full, a refresh is not scheduled (the stale response is served all the same, and a later request
schedules it). Failures are logged, never raised at anyone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..common.faults import RateLimitedLog

__all__ = ["Background"]

WORKERS = 2
QUEUE_LIMIT = 64


class Background:
    def __init__(self, log: RateLimitedLog) -> None:
        self._log = log
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.pending = 0
        """Refreshes scheduled or running."""

    def submit(self, task: Callable[[], object], name: str) -> bool:
        """Run ``task`` soon on a background thread; False (and nothing runs) when too many wait."""
        with self._lock:
            if self.pending >= QUEUE_LIMIT:
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chocs-cache-refresh")
            self.pending += 1
        self._executor.submit(self._run, task, name)
        return True

    def _run(self, task: Callable[[], object], name: str) -> None:
        try:
            task()
        except Exception as error:
            self._log.log(
                logging.ERROR, ("refresh", name), "cache refresh of %s failed: %r", name, error, exc_info=error
            )
        finally:
            with self._lock:
                self.pending -= 1
