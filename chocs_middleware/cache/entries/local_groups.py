"""Invalidation times and hosts, kept by this process for a storage that cannot keep groups.

Such a storage (no ``IGroupCacheStorage``) never holds a grouped response; the times recorded
here refuse a response computed before a purge of its path on every host, in this process only
(docs/invalidation.md, "Storages without groups"). Times are the monotonic clock's.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

from ..clock import Clock

__all__ = ["MAX_INVALIDATIONS", "MAX_LOCAL_HOSTS", "LocalGroups"]

MAX_INVALIDATIONS = 10_000
MAX_LOCAL_HOSTS = 10_000


class LocalGroups:
    """The latest invalidation time of each id (a group, a path on every host), at most
    ``MAX_INVALIDATIONS`` of them: when one is forgotten, every store computed before it is
    refused instead; and the hosts this process stored responses for."""

    def __init__(self, clock: Clock) -> None:
        self._monotonic = clock.monotonic
        self._invalidated: dict[str, float] = {}
        self._forgotten = -math.inf
        self._hosts: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def invalidate(self, ids: Sequence[str]) -> None:
        """Record that ``ids`` were invalidated now."""
        now = self._monotonic()
        with self._lock:
            invalidated = self._invalidated
            for name in ids:
                invalidated.pop(name, None)
                invalidated[name] = now
            while len(invalidated) > MAX_INVALIDATIONS:
                oldest = next(iter(invalidated))
                self._forgotten = max(self._forgotten, invalidated.pop(oldest))

    def invalidated_since(self, ids: Sequence[str], since: float) -> bool:
        """Whether any of ``ids`` was (or may have been) invalidated at or after ``since``."""
        invalidated = self._invalidated
        if not invalidated:
            return False
        return self._forgotten >= since or any(invalidated.get(name, -math.inf) >= since for name in ids)

    def add_host(self, host: str) -> None:
        hosts = self._hosts
        if host not in hosts:
            with self._lock:
                hosts[host] = None
                if len(hosts) > MAX_LOCAL_HOSTS:
                    hosts.popitem(last=False)

    def hosts(self) -> list[str]:
        with self._lock:
            return list(self._hosts)
