"""Bounded, thread-safe in-memory storages for one process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .cache_storage import CacheItem
from .error import CacheError

__all__ = ["CollectableInMemoryCacheStorage", "InMemoryCacheStorage"]

DEFAULT_MAX_ITEMS = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def _footprint(item: CacheItem) -> int:
    return len(item.body) + len(item.id)


class InMemoryCacheStorage:
    """An LRU map of ``CacheItem`` bounded by item count and by payload bytes (body + id).

    Expired items are never returned. When a bound is reached, expired items go first and then
    the least recently used. Every operation is O(1); the sweep for expired items runs at most
    once per ``len/4`` writes, so it is O(1) amortised too. Items must not be changed after
    ``set`` (the byte count is taken from them when they leave).
    """

    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        for name, value in (("max_items", max_items), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{type(self).__name__}({name}=...) must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"{type(self).__name__}({name}=...) must be at least 1, got {value!r}")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, CacheItem] = OrderedDict()
        self._bytes = 0
        self._writes_since_sweep = 0
        self._lock = threading.Lock()

    def get(self, item_id: str) -> CacheItem:
        # Reads take no lock: each OrderedDict call is atomic under the GIL, and an item that
        # another thread removes meanwhile is still whole. Only changes are serialised.
        items = self._items
        item = items.get(item_id)
        if item is None or item._updated_at + item.ttl < time.time():
            self._forget_expired(item_id, item)
            raise CacheError.for_not_found(item_id)
        try:  # noqa: SIM105 - contextlib.suppress costs ~0.3 us, and this runs twice per hit
            items.move_to_end(item_id)
        except KeyError:
            pass  # removed by another thread meanwhile
        return item

    def _forget_expired(self, item_id: str, item: CacheItem | None) -> None:
        if item is not None:
            with self._lock:
                if self._items.get(item_id) is item:
                    self._remove(item_id)

    def set(self, item: CacheItem) -> None:
        with self._lock:
            self._remove(item.id)
            size = _footprint(item)
            if size > self.max_bytes:
                return
            self._items[item.id] = item
            self._bytes += size
            self._writes_since_sweep += 1
            if len(self._items) > self.max_items or self._bytes > self.max_bytes:
                self._make_room()

    @property
    def size_bytes(self) -> int:
        """Payload bytes held (bodies and ids), the quantity ``max_bytes`` bounds."""
        return self._bytes

    @property
    def is_empty(self) -> bool:
        return len(self) <= 0

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def _make_room(self) -> None:
        if self._writes_since_sweep * 4 >= len(self._items):
            self._sweep_expired()
        while len(self._items) > self.max_items or self._bytes > self.max_bytes:
            _, oldest = self._items.popitem(last=False)
            self._bytes -= _footprint(oldest)

    def _sweep_expired(self) -> None:
        now = time.time()
        # One C-level call takes the snapshot: lock-free reads may reorder entries meanwhile, and a
        # Python-level loop over the live dict would see "mutated during iteration".
        snapshot = list(self._items.items())
        for item_id, item in snapshot:
            if item.expires_at_timestamp < now:
                self._remove(item_id)
        self._writes_since_sweep = 0

    def _remove(self, item_id: str) -> None:
        item = self._items.pop(item_id, None)
        if item is not None:
            self._bytes -= _footprint(item)


class CollectableInMemoryCacheStorage(InMemoryCacheStorage):
    """``InMemoryCacheStorage`` that can also remove items (``collect``), for invalidation."""

    def collect(self, item: CacheItem) -> None:
        with self._lock:
            self._remove(item.id)
