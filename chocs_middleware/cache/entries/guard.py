"""The middleware's one link to its storage: what it can do, a breaker per kind of operation, and
the one way every storage call is made (``StorageGuard.attempt``): check the breaker, try, and
record a fault (logged at WARNING, counted) instead of raising it (``docs/design.md``, "Failure
model"); ``EntryStore.find``, which every hit runs, writes the same steps out. Entries are
decoded here too, by the one decoder, which refuses what this cache could not have written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

from ..clock import Clock
from ..common.faults import Breaker, FaultLog
from ..common.memo import BoundedMemo
from ..decisions.values import ResourceIndex, StoredResponse
from ..error import CacheError
from ..storages.protocol import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ICompareAndSetCacheStorage,
    IGroupCacheStorage,
    ILockableCacheStorage,
    ILookupCacheStorage,
    IMultiGetCacheStorage,
)
from .local_groups import LocalGroups
from .pending import PendingInvalidations, Retrier
from .serialisation import DecodeError, decode_index, decode_response

__all__ = ["INDEXES", "MAX_METADATA_SIZE", "RESPONSES", "StorageGuard", "Unavailable"]

# Hot entries are decoded once: a storage returns the same bytes again on every hit. Entries of
# up to 8 KiB are remembered, 256 of each kind: at most 2 MiB of entries (and their bodies' copies).
INDEXES: BoundedMemo[bytes, ResourceIndex] = BoundedMemo(decode_index, 256, 8 * 1024)
RESPONSES: BoundedMemo[bytes, StoredResponse] = BoundedMemo(decode_response, 256, 8 * 1024)
MAX_METADATA_SIZE = 64 * 1024
"""What a stored entry may hold besides its body: a larger one was not written by this cache."""

_Decoded = TypeVar("_Decoded", ResourceIndex, StoredResponse)
_Result = TypeVar("_Result")


class Unavailable(Enum):
    """Why a guarded call gave nothing."""

    RESTING = "resting"
    """Its kind's breaker is open: the storage was not asked."""
    FAILED = "failed"
    """The storage raised (logged and counted)."""


class StorageGuard:
    """A storage, what it can do, and a breaker per kind of operation (shared by every route).

    ``max_body_size``: an entry whose body could be larger is refused when read (it was planted).
    """

    def __init__(self, storage: ICacheStorage, faults: FaultLog, clock: Clock, max_body_size: int = 1 << 20) -> None:
        self.storage = storage
        self.process_local = bool(getattr(storage, "process_local", False))
        """Only this process uses the storage (``InMemoryCacheStorage.process_local``)."""
        self.max_entry_size = max_body_size + MAX_METADATA_SIZE
        self.collector = storage if isinstance(storage, ICollectableCacheStorage) else None
        self.multi = storage if isinstance(storage, IMultiGetCacheStorage) else None
        self.locks = storage if isinstance(storage, ILockableCacheStorage) else None
        self.conditional = storage if isinstance(storage, ICompareAndSetCacheStorage) else None
        self.grouped = storage if isinstance(storage, IGroupCacheStorage) else None
        self.lookups = storage if isinstance(storage, ILookupCacheStorage) and self.grouped and self.locks else None
        self.local = LocalGroups(clock)
        self.faults = faults
        self.clock = clock
        self.reads = Breaker(clock)
        self.writes = Breaker(clock)
        self.lock_calls = Breaker(clock)
        self.pending = PendingInvalidations()
        self.retrier: Retrier | None = None
        """Retries what is pending in the background; made on the first failed invalidation."""
        self.retrying: object = None
        """What the retrier retries with (it holds it weakly, so that it ends with the guard)."""
        self._index_locks = [threading.Lock() for _ in range(64)]

    @property
    def shared(self) -> bool:
        """Other processes use the storage too (it offers a lock across processes)."""
        return self.locks is not None

    def index_lock(self, resource: str) -> threading.Lock:
        """Serialises changes to one resource's index within this process."""
        return self._index_locks[hash(resource) % len(self._index_locks)]

    def attempt(
        self,
        breaker: Breaker,
        operation: str,
        route: str,
        call: Callable[..., _Result],
        *args: object,
        even_resting: bool = False,
    ) -> _Result | Unavailable:
        """``call(*args)``, unless ``breaker`` rests the storage (``even_resting``: tried all the
        same, as invalidations and unlocks are); a fault is recorded and returned as
        ``Unavailable.FAILED``. The one way every storage call is guarded."""
        if not even_resting and breaker.open_until and not breaker.allows():
            return Unavailable.RESTING
        try:
            result = call(*args)
        except Exception as error:
            self.fault(breaker, operation, error, route)
            return Unavailable.FAILED
        if breaker.failures:
            breaker.succeeded()
        return result

    def fault(self, breaker: Breaker, operation: str, error: Exception, route: str) -> None:
        self.faults.report(operation, error, route)
        breaker.failed(error)

    def get(self, item_id: str) -> CacheItem | None:
        """The item, or ``None`` for the storage protocol's miss; other exceptions are faults."""
        try:
            return self.storage.get(item_id)
        except (CacheError, KeyError):
            return None

    def read(self, item_id: str, memo: BoundedMemo[bytes, _Decoded], route: str) -> _Decoded | None:
        """The decoded entry under ``item_id``, or ``None`` (a miss, a fault, or a resting storage)."""
        item = self.attempt(self.reads, "get", route, self.get, item_id)
        return None if isinstance(item, Unavailable) else self.decode(item_id, item, memo, route)

    def decode(
        self, item_id: str, item: CacheItem | None, memo: BoundedMemo[bytes, _Decoded], route: str
    ) -> _Decoded | None:
        """The one decoder: the entry in ``item``, or ``None`` for a miss, a tombstone or an entry
        that does not decode (which is logged and removed)."""
        if item is None:
            return None
        try:
            blob = item.body
            if not blob:
                return None  # a tombstone
            decoded: _Decoded | None = memo.get(blob)
            if decoded is not None:
                return decoded
            if len(blob) > self.max_entry_size:
                raise DecodeError(f"an entry of {len(blob)} bytes, more than this cache stores")
            return memo.compute(blob)
        except DecodeError as error:
            # Logged, then removed: the next request misses quietly and stores a good entry.
            self.faults.report("decode", error, route)
            self.remove(item_id, route)
        except Exception as error:  # a storage that returned something other than a CacheItem of bytes
            self.faults.report("get", error, route)
        return None

    def remove(self, item_id: str, route: str) -> None:
        """Remove an item, or, without ``collect``, overwrite it with an empty, already expired one
        (a tombstone); a fault is logged, never raised."""
        tombstone = CacheItem.empty(item_id)
        collector = self.collector
        try:
            if collector is not None:
                collector.collect(tombstone)
            else:
                self.storage.set(tombstone)
        except (CacheError, KeyError):
            pass
        except Exception as error:
            self.faults.report("collect" if collector else "set", error, route)

    def storage_time(self, route: str) -> float | None:
        """The clock invalidations are recorded with (``IGroupCacheStorage.storage_time``, or this
        process's monotonic clock); read before the handler is asked, it is what a response
        computed then must not be older than. ``None``: the storage failed."""
        grouped = self.grouped
        if grouped is None:
            return self.clock.monotonic()
        try:
            return grouped.storage_time()
        except Exception as error:
            self.fault(self.reads, "time", error, route)
            return None
