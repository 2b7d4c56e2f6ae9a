"""This process's counters: what ``CacheMiddleware.stats()`` returns (docs/deployment.md, "Metrics").

The request flow records each response once, from the same ``Trace`` its ``Cache-Status`` is
rendered from. A plain hit, the common case, costs one ``Tally.add`` (no lock); everything else
takes a lock for a dict update.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..common.counting import Tally
from .trace import Trace

__all__ = ["ANSWERED_FROM_STORAGE", "STALE_DETAILS", "Metrics"]

ANSWERED_FROM_STORAGE = ("304", "412", "206", "416")
STALE_DETAILS = frozenset(("stale-while-revalidate", "stale-if-error"))
"""Details of a stale response served from storage (the handler was not waited for)."""
_NOT_STORED_FWD = frozenset(("uri-miss", "vary-miss", "stale", "request"))


class Metrics:
    """Counters of responses, stores, invalidations and purges, for one middleware in one process."""

    def __init__(self) -> None:
        self._hits = Tally()
        self.hit: Callable[[], object] = self._hits.add
        """Count a fresh hit answered in full from storage (the Tally's own C call: every hit counts)."""
        self._answered = {code: Tally() for code in ANSWERED_FROM_STORAGE}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def answered(self, code: str) -> None:
        """A 304, 412, 206 or 416 answered from storage (``code`` is one of ``ANSWERED_FROM_STORAGE``)."""
        self._answered[code].add()

    def add(self, family: str, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[(family, name)] += amount

    def record(self, trace: Trace) -> None:
        """One response that leaves the cache with ``trace``'s ``Cache-Status``."""
        detail = trace.detail
        with self._lock:
            counts = self._counts
            if trace.hit:
                counts[("responses", "hit")] += 1
            elif detail in STALE_DETAILS:
                counts[("responses", "stale")] += 1  # a stale response served from storage
            else:
                counts[("responses", trace.fwd or "none")] += 1
            if trace.collapsed:
                counts[("collapsed", "")] += 1
            if trace.fwd == "stale" and trace.fwd_status == 304:
                counts[("revalidated", "")] += 1
            if trace.stored:
                counts[("stored", "")] += 1
            elif trace.fwd in _NOT_STORED_FWD and detail not in STALE_DETAILS and not trace.collapsed:
                counts[("not_stored", detail or "not-cacheable")] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain values (see ``CacheMiddleware.stats``)."""
        with self._lock:
            counts = dict(self._counts)
        responses: dict[str, int] = {"hit": self._hits.value}
        grouped: dict[str, dict[str, int]] = {
            "answered_from_storage": {code: tally.value for code, tally in self._answered.items()},
            "not_stored": {},
            "invalidations": {},
            "purges": {},
        }
        singles: dict[str, int] = {"collapsed": 0, "revalidated": 0, "stored": 0}
        for (family, name), value in counts.items():
            if family == "responses":
                responses[name] = responses.get(name, 0) + value
            elif family in grouped:
                grouped[family][name] = value
            else:
                singles[family] = value
        return {"responses": responses, **singles, **grouped}
