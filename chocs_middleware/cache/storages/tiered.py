"""A coherent in-process tier in front of a shared storage (docs/storages.md, "Tiered").

``TieredCacheStorage(far)`` keeps what it reads from ``far`` (Redis, say) in a bounded
in-memory storage of this process (``near``), so that a hit costs no round trip. ``far`` must
tell every process what any process changed (``IPublishingCacheStorage``; ``RedisCacheStorage``
publishes every write on a channel): each change drops this process's copy. While the
subscription is not established (starting, or its connection lost), ``near`` is bypassed and
emptied: it is never trusted for a moment in which a change could have been missed.

A read from ``far`` races with changes delivered meanwhile; it is kept in ``near`` only if no
change to its item (and no loss of the subscription) was delivered since the read began, as an
epoch counter tells. This process's own writes drop its copies before they return.

``near`` is trusted only on a *lease*: for ``lease`` seconds after a heartbeat the subscription
sent was answered (``Subscription.heard_at``), which shows that every change made before it has
arrived. A process that was frozen (``SIGSTOP``, a paused VM) or cut off for longer reads from
``far`` until a new heartbeat, sent after it resumed, comes back behind whatever it missed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from ..common.checks import check_number
from ..common.counting import Tally
from ..error import CacheError
from .memory import CollectableInMemoryCacheStorage
from .protocol import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    IMultiGetCacheStorage,
    IPublishingCacheStorage,
    LookedUp,
)

__all__ = ["TieredCacheStorage"]

MAX_REMEMBERED_CHANGES = 10_000
"""Changes remembered to judge reads in flight; a read older than the oldest forgotten is not kept."""
DEFAULT_LEASE_SECONDS = 1.0
"""How long ``near`` is trusted after the subscription last showed it hears every change."""


class TieredCacheStorage:
    """``far``'s items, kept in this process as well (``near``) while ``far``'s changes reach it.

    It has the capabilities ``far`` has (``get_many``, locks, ``compare_and_set``, groups): reads
    go through ``near``, writes to ``far`` (dropping this process's copies). ``near`` defaults to
    a ``CollectableInMemoryCacheStorage`` of 10,000 responses and 64 MiB. ``lease``: seconds
    ``near`` is trusted after ``far`` last showed that every change reaches this process.
    """

    def __init__(
        self,
        far: ICacheStorage,
        near: ICollectableCacheStorage | None = None,
        *,
        lease: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if not isinstance(far, IPublishingCacheStorage):
            raise TypeError(
                f"TieredCacheStorage needs a storage that publishes its changes (IPublishingCacheStorage, "
                f"such as RedisCacheStorage), got {type(far).__name__}"
            )
        if not isinstance(far, ICacheStorage):
            raise TypeError(f"TieredCacheStorage needs a storage with get and set, got {type(far).__name__}")
        self._lease = float(
            check_number(lease, "TieredCacheStorage(lease=...)", unit="seconds", whole=False, minimum=0)
        )
        self._far = far
        self._near = near if near is not None else CollectableInMemoryCacheStorage()
        self._near_get_many = self._near.get_many if isinstance(self._near, IMultiGetCacheStorage) else None
        self._far_get_many = far.get_many if isinstance(far, IMultiGetCacheStorage) else None
        self._lock = threading.Lock()
        self._listening = False
        """Changes are being delivered: ``near`` may answer (read on every hit)."""
        self._epoch = 0
        self._changed: OrderedDict[str, int] = OrderedDict()
        """Item id: the epoch of its latest change (bounded)."""
        self._forgotten = 0
        """The newest epoch of a change no longer remembered."""
        self._trusted_from = 0
        """Reads begun before this epoch are never kept (the subscription was (re)established)."""
        self._near_hits = Tally()
        self._far_reads = Tally()
        self._bypassed = Tally()
        for name in ("acquire_lock", "release_lock", "storage_time", "group_members", "synchronise", "mark_groups"):
            if hasattr(far, name):
                setattr(self, name, getattr(far, name))
        for name in ("compare_and_set", "compare_and_set_grouped", "store_and_release"):
            if hasattr(far, name):
                setattr(self, name, self._guarded_write(getattr(far, name)))
        for name, method in (
            ("collect", self._collect),
            ("invalidate_groups", self._invalidate_groups),
            ("remove_all", self._remove_all),
            ("look_up", self._look_up),
        ):
            if hasattr(far, name):
                setattr(self, name, method)
        self._subscription = far.subscribe(self._on_change, self._on_listening)

    # -- reads -----------------------------------------------------------------------------------

    def _trusted(self) -> bool:
        """``near`` may answer: changes are delivered, and were shown to be within the lease."""
        # The system's monotonic clock, as the subscription's heartbeats: a lease is about how long
        # this process really went without hearing from ``far``.
        return self._listening and time.monotonic() - self._subscription.heard_at < self._lease

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        if self._near_get_many is not None and self._trusted():
            found = self._near_get_many(item_ids)
            if None not in found:
                self._near_hits.add()
                return found
        return self._from_far(item_ids)

    def get(self, item_id: str) -> CacheItem:
        if self._trusted():
            try:
                item = self._near.get(item_id)
                self._near_hits.add()
                return item
            except (CacheError, KeyError):
                pass
        found = self._from_far([item_id])[0]
        if found is None:
            raise CacheError.for_not_found(item_id)
        return found

    def _look_up(self, item_ids: Sequence[str], lock: str, ttl: float) -> LookedUp:
        """``far``'s look-up (``ILookupCacheStorage``), unless ``near`` holds every item."""
        if self._near_get_many is not None and self._trusted():
            found = self._near_get_many(item_ids)
            if None not in found:
                self._near_hits.add()
                return LookedUp(found)
        listening, epoch = self._trusted(), self._epoch
        (self._far_reads if listening else self._bypassed).add()
        looked: LookedUp = self._far.look_up(item_ids, lock, ttl)  # type: ignore[attr-defined]
        if listening:
            self._keep(looked.items, epoch)
        return looked

    def _from_far(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        listening, epoch = self._trusted(), self._epoch
        (self._far_reads if listening else self._bypassed).add()
        if self._far_get_many is not None:
            found = self._far_get_many(item_ids)
        else:
            found = [self._far_get(item_id) for item_id in item_ids]
        if listening:
            self._keep(found, epoch)
        return found

    def _far_get(self, item_id: str) -> CacheItem | None:
        try:
            return self._far.get(item_id)
        except (CacheError, KeyError):
            return None

    def _keep(self, items: Sequence[CacheItem | None], epoch: int) -> None:
        """Keep what was read at ``epoch`` in ``near``, unless a change to it came since."""
        with self._lock:
            if not self._listening or epoch < self._trusted_from or epoch < self._forgotten:
                return
            changed = self._changed
            for item in items:
                if item is not None and item and changed.get(item.id, -1) <= epoch:
                    self._near.set(item)

    # -- writes: to far, dropping this process's copies ------------------------------------------

    def set(self, item: CacheItem) -> None:
        try:
            self._far.set(item)
        finally:
            self._on_change([item.id])

    def _collect(self, item: CacheItem) -> None:
        try:
            self._far.collect(item)  # type: ignore[attr-defined]
        finally:
            self._on_change([item.id])

    def _guarded_write(self, write: Callable[..., Any]) -> Callable[..., Any]:
        """``far``'s ``write`` of ``items`` guarded by ``guard_id`` (``compare_and_set``,
        ``compare_and_set_grouped``, ``store_and_release``), dropping this process's copies of them."""

        def written(guard_id: str, expected: bytes | None, items: Sequence[CacheItem], *rest: Any) -> Any:
            try:
                return write(guard_id, expected, items, *rest)
            finally:
                self._on_change([guard_id, *(item.id for item in items)])

        return written

    def _invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        try:
            removed: int = self._far.invalidate_groups(group_ids, keep_for)  # type: ignore[attr-defined]
            return removed
        finally:
            self._on_change(None)  # this process does not know the members: it drops every copy

    def _remove_all(self, keep_for: int) -> int | None:
        try:
            removed: int | None = self._far.remove_all(keep_for)  # type: ignore[attr-defined]
            return removed
        finally:
            self._on_change(None)

    # -- changes ---------------------------------------------------------------------------------

    def _on_change(self, item_ids: Sequence[str] | None) -> None:
        """Items changed (``None``: any may have): drop their copies; a read in flight is not kept."""
        with self._lock:
            self._epoch += 1
            if item_ids is None:
                self._trust_from_now()
                return
            changed, epoch = self._changed, self._epoch
            for item_id in item_ids:
                changed.pop(item_id, None)
                changed[item_id] = epoch
                self._near.collect(CacheItem.empty(item_id))
            while len(changed) > MAX_REMEMBERED_CHANGES:
                _, forgotten = changed.popitem(last=False)
                self._forgotten = max(self._forgotten, forgotten)

    def _on_listening(self, listening: bool) -> None:
        """The subscription started or stopped: what ``near`` holds may have missed changes."""
        with self._lock:
            self._epoch += 1
            self._listening = listening
            self._trust_from_now()

    def _trust_from_now(self) -> None:
        self._near.clear()  # type: ignore[attr-defined]
        self._changed.clear()
        self._forgotten = 0
        self._trusted_from = self._epoch

    # -- operators -------------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Changes are being delivered and the lease holds, so ``near`` answers."""
        return self._trusted()

    def holds(self, item_id: str) -> bool:
        """Whether this process's ``near`` holds a copy of the item it would answer with now."""
        try:
            self._near.get(item_id)
        except (CacheError, KeyError):
            return False
        return self._trusted()

    def stats(self) -> dict[str, Any]:
        """``near_hits``, ``far_reads`` (reads that ``near`` could not answer), ``bypassed`` (reads
        while not listening), ``listening``, and ``near``'s own figures."""
        figures: dict[str, Any] = {
            "near_hits": self._near_hits.value,
            "far_reads": self._far_reads.value,
            "bypassed": self._bypassed.value,
            "listening": int(self._listening),
        }
        own = getattr(self._near, "stats", None)
        if callable(own):
            figures.update({f"near_{name}": value for name, value in own().items()})
        return figures

    def close(self) -> None:
        """Stop listening, and close ``far`` if it can be."""
        self._subscription.close()
        close = getattr(self._far, "close", None)
        if callable(close):
            close()
