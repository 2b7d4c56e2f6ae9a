"""Bounded, thread-safe in-memory storages for one process."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from ..clock import SYSTEM_CLOCK, Clock
from ..common.checks import check_number
from ..error import CacheError
from .memory_groups import Invalidations, Listings
from .protocol import CacheItem
from .recency import Kept, Recency, WriteOrder, mark

__all__ = ["CollectableInMemoryCacheStorage", "InMemoryCacheStorage"]

DEFAULT_MAX_ITEMS = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def _footprint(item: CacheItem) -> int:
    return len(item.body) + len(item.id)


class InMemoryCacheStorage:
    """A map of ``CacheItem`` bounded by a number of stored responses and by payload bytes
    (body + id), with groups of items (``IGroupCacheStorage``).

    ``max_items`` counts stored responses: the middleware's bookkeeping items (the index of each
    path, ``CacheItem.bookkeeping``) are bounded by the same number apart (those never needed, an
    invalidation's markers, go first, then the oldest; never a response in their place), so 10,000
    means 10,000 responses, whatever paths they are on.
    Group invalidations are remembered up to the same number, and their bytes count against
    ``max_bytes``; when one must be forgotten, every store computed before it is refused instead.

    An item is kept for its ``ttl`` from when it was ``set``, measured on the monotonic clock (a
    wall clock that steps back cannot make it live longer), and is never returned after that.
    When a bound is reached, expired items go first, then items past their ``needed_for`` (kept
    only in case, such as stale responses kept to be revalidated), then those not read lately
    (``recency.Recency``: the oldest written, passing over once each one read since).
    Every operation is O(1); the sweep that finds expired and no longer needed items runs at most
    once per ``len/4`` writes, so it is O(1) amortised too. Items must not be changed after
    ``set`` (the byte count is taken from them when they leave).

    Group lists hold only items that are here: an item that leaves (evicted, expired, removed)
    leaves its groups, so they are bounded with the storage. The group of hosts, whose members
    are not items, keeps the ``max_items`` most recently listed.
    """

    process_local = True
    """Only this process reads and writes it: the middleware then knows every store in flight, and
    an invalidation of a path with nothing stored needs to write nothing."""

    def __init__(
        self, max_items: int = DEFAULT_MAX_ITEMS, max_bytes: int = DEFAULT_MAX_BYTES, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        name = type(self).__name__
        self.max_items = int(check_number(max_items, f"{name}(max_items=...)", unit="items", whole=True, minimum=1))
        self.max_bytes = int(check_number(max_bytes, f"{name}(max_bytes=...)", unit="bytes", whole=True, minimum=1))
        self._monotonic = clock.monotonic
        self._items: dict[str, Kept] = {}
        self._recency = Recency()
        self._spare: deque[str] = deque()
        """Ids the last sweep found no longer needed, in the order the hand visits them: evicted first."""
        self._bytes = 0
        self._bookkeeping = 0
        """How many items are bookkeeping (counted apart from responses)."""
        self._bookkeeping_written = WriteOrder()
        """Those items, oldest write first."""
        self._unneeded_bookkeeping = WriteOrder()
        """Those of them never needed (``needed_for=0``: an invalidation's marker), dropped first."""
        self.evictions = 0
        """Items dropped to make room (not those that expired or were removed)."""
        self._writes_since_sweep = 0
        self._lock = threading.Lock()
        self._listings = Listings()
        self._invalidations = Invalidations()
        """At most ``max_items`` groups, their bytes counted against ``max_bytes``."""

    def get(self, item_id: str) -> CacheItem:
        # Reads take no lock: a dict lookup is atomic under the GIL, an item that another thread
        # removes meanwhile is still whole, and marking it used is one attribute. Changes are serialised.
        kept = self._items.get(item_id)
        if kept is None or kept.expires < self._monotonic():
            self._forget_expired(item_id, kept)
            raise CacheError.for_not_found(item_id)
        mark(kept, "used", True)
        return kept

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        """The items, ``None`` for each miss: a hit reads a resource's index and variant in one call."""
        items, now = self._items, self._monotonic()
        found: list[CacheItem | None] = []
        for item_id in item_ids:
            kept = items.get(item_id)
            if kept is None or kept.expires < now:
                self._forget_expired(item_id, kept)
                found.append(None)
                continue
            mark(kept, "used", True)
            found.append(kept)
        return found

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        """Set ``items`` only if ``guard_id`` holds ``expected`` (``None``: nothing live), atomically."""
        with self._lock:
            kept = self._items.get(guard_id)
            current = None if kept is None or kept.expires < self._monotonic() or not kept else kept.body
            if current != expected:
                return False
            for item in items:
                self._set(item)
            return True

    def _forget_expired(self, item_id: str, kept: Kept | None) -> None:
        if kept is not None:
            with self._lock:
                if self._items.get(item_id) is kept:
                    self._remove(item_id)

    # -- groups (IGroupCacheStorage) -------------------------------------------------------------

    def storage_time(self) -> float:
        """The monotonic clock the storage keeps items and invalidations with."""
        return self._monotonic()

    def compare_and_set_grouped(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
    ) -> bool | None:
        """``compare_and_set``, unless a ``checked`` group was invalidated (or everything removed)
        at or after ``since``; lists the ``listings`` with the items."""
        with self._lock:
            now = self._monotonic()
            if self._invalidations.since(checked, since, now):
                return None
            kept = self._items.get(guard_id)
            current = None if kept is None or kept.expires < now or not kept else kept.body
            if current != expected:
                return False
            for item in items:
                self._set(item)
            until = now + max((item.ttl for item in items), default=0)
            for group, member in listings:
                self._listings.add(group, member, until, self._items, self.max_items)
            return True

    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        """Record the invalidation, and remove the items listed in the groups."""
        removed = 0
        with self._lock:
            now = self._monotonic()
            for group in group_ids:
                self._bytes += self._invalidations.remember(group, now, now + keep_for, self.max_items)
                for member in self._listings.take(group):
                    if member in self._items:
                        self._remove(member)
                        removed += 1
            if self._bytes > self.max_bytes:
                self._make_room()
        return removed

    def mark_groups(self, group_ids: Sequence[str], keep_for: int) -> None:
        """Record the invalidation of ``group_ids`` now, and leave their items (``IMarkingCacheStorage``)."""
        with self._lock:
            now = self._monotonic()
            for group in group_ids:
                self._bytes += self._invalidations.remember(group, now, now + keep_for, self.max_items)

    def group_members(self, group_id: str) -> list[str]:
        now = self._monotonic()
        with self._lock:
            return self._listings.members(group_id, now)

    def remove_all(self, keep_for: int) -> int:
        """Remove every item and group list; stores computed before now are refused from now on.
        Returns how many stored responses (items that are not bookkeeping) were removed."""
        with self._lock:
            removed = len(self._items) - self._bookkeeping
            now = self._monotonic()
            self._invalidations.removed_all(now, now + keep_for)
            self._clear()
        return removed

    def set(self, item: CacheItem) -> None:
        with self._lock:
            self._set(item)

    def _set(self, item: CacheItem) -> None:
        replaced = self._items.pop(item.id, None)
        if replaced is not None:  # a new version of the item stays in the groups it was listed in
            self._forget(item.id, replaced, leave_groups=False)
        size = _footprint(item)
        if size > self.max_bytes:
            return
        kept = self._items[item.id] = Kept.of(item, self._monotonic() + item.ttl)
        self._recency.added(kept, self._items)
        self._bytes += size
        if item.bookkeeping:
            self._bookkeeping += 1
            self._bookkeeping_written.added(kept, self._items)
            if item.needed_for == 0:
                self._unneeded_bookkeeping.added(kept, self._items)
        self._writes_since_sweep += 1
        if self._over_bounds():
            self._make_room()

    def _over_bounds(self) -> bool:
        bookkeeping, limit = self._bookkeeping, self.max_items
        return len(self._items) - bookkeeping > limit or bookkeeping > limit or self._bytes > self.max_bytes

    @property
    def size_bytes(self) -> int:
        """Payload bytes held (bodies and ids), the quantity ``max_bytes`` bounds."""
        return self._bytes

    @property
    def is_empty(self) -> bool:
        return len(self) <= 0

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._items.clear()
        self._recency.clear()
        self._spare.clear()
        self._listings.clear()
        self._bookkeeping = 0
        self._bookkeeping_written.clear()
        self._unneeded_bookkeeping.clear()
        self._bytes = self._invalidations.footprint

    def stats(self) -> dict[str, int]:
        """What it holds and has dropped: ``items`` (all), ``responses`` (not bookkeeping),
        ``bytes``, ``evictions``, and its bounds."""
        items = len(self._items)
        return {
            "items": items,
            "responses": items - self._bookkeeping,
            "bytes": self._bytes,
            "evictions": self.evictions,
            "max_items": self.max_items,
            "max_bytes": self.max_bytes,
        }

    def __len__(self) -> int:
        return len(self._items)

    def _make_room(self) -> None:
        if self._writes_since_sweep * 4 >= len(self._items):
            self._sweep()
        now = self._monotonic()
        while self._bookkeeping > self.max_items:  # never a response in a bookkeeping item's place
            oldest = self._unneeded_bookkeeping.oldest(self._items)  # an item with no body is falsy: no ``or``
            if oldest is None:
                oldest = self._bookkeeping_written.oldest(self._items)
            if oldest is None:
                break
            self._remove(oldest.id)
            self.evictions += 1
        while self._over_bounds() and self._items:
            spare = self._spare.popleft() if self._spare else None
            if spare is None:
                victim = self._recency.victim(self._items)
                self._remove(next(iter(self._items)) if victim is None else victim.id)
                self.evictions += 1
                continue
            kept = self._items.get(spare)
            if kept is not None and kept.needed_until < now:  # still there, and still not needed
                self._remove(spare)
                self.evictions += 1

    def _sweep(self) -> None:
        """Drop expired items, and list those no longer needed (in the hand's order) to drop first."""
        now = self._monotonic()
        self._spare.clear()
        for kept in self._recency.in_order(self._items):
            if kept.expires < now:
                self._remove(kept.id)
            elif kept.needed_until < now:
                self._spare.append(kept.id)
        self._writes_since_sweep = 0

    def _remove(self, item_id: str) -> None:
        kept = self._items.pop(item_id, None)
        if kept is not None:
            self._forget(item_id, kept)

    def _forget(self, item_id: str, item: CacheItem, leave_groups: bool = True) -> None:
        """Account for an item taken out of ``_items``."""
        self._bytes -= _footprint(item)
        if item.bookkeeping:
            self._bookkeeping -= 1  # its place in the write orders is skipped when it comes up
        if leave_groups:
            self._listings.leave(item_id)


class CollectableInMemoryCacheStorage(InMemoryCacheStorage):
    """``InMemoryCacheStorage`` that can also remove items (``collect``), for invalidation."""

    def collect(self, item: CacheItem) -> None:
        with self._lock:
            self._remove(item.id)
