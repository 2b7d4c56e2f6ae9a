"""The cache's storage model on top of any ``ICacheStorage`` (``docs/design.md``, "Storage model").

A resource has an index entry and one entry per stored response (variant). This module turns
those into ``get``/``set``/``collect`` calls, decodes what comes back, and contains every
storage fault: a failing or misbehaving storage makes a request a miss, never an error.

``StorageGuard`` is the middleware's one link to its storage (its capabilities, and the rest it
takes after a fault); ``EntryStore`` is a route's view of it, which names the route in its logs.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, TypeVar

from .cache_storage import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ILockableCacheStorage,
    IMultiGetCacheStorage,
)
from .clock import Clock
from .entries import ResourceIndex, StoredResponse, VaryRecipe
from .error import CacheError
from .faults import FaultLog
from .policy import Lookup
from .serialisation import DecodeError, decode_index, decode_response, encode_index, encode_response

__all__ = ["FAULT_REST_SECONDS", "URI_MISS", "VARY_MISS", "EntryStore", "StorageGuard", "Target"]

# Hot entries are decoded once: a storage returns the same bytes again on every hit.
_decode_response = lru_cache(maxsize=256)(decode_response)
_decode_index = lru_cache(maxsize=256)(decode_index)

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10; annotations only

_Decoded = TypeVar("_Decoded", ResourceIndex, StoredResponse)

FAULT_REST_SECONDS = 1.0
"""After a storage fault, entries are neither read nor written for this long: a Redis that is down
or stalled then costs a request at most one timeout, not one per storage call, and is not
hammered while it recovers. Invalidations are always attempted."""


class Target(Protocol):
    """The resource a request is for, and how to name its variants for this request."""

    @property
    def resource(self) -> str:
        """The id of the resource's index entry."""

    def variant(self, recipe: VaryRecipe) -> str:
        """The id of the variant ``recipe`` selects for this request."""


URI_MISS = "uri-miss"
"""Nothing is stored for the request's URI (an RFC 9211 ``fwd`` value, as ``EntryStore.find`` returns it)."""
VARY_MISS = "vary-miss"
"""Responses are stored for the URI, none that this request may be given."""


def _usable(
    stored: StoredResponse | None, index: ResourceIndex, recipe: VaryRecipe, lookup: Lookup, now: float
) -> TypeGuard[StoredResponse]:
    if stored is None or stored.generation != index.generation or stored.retained_until <= now:
        return False  # nothing, a response of an invalidated generation, or one kept too long
    return lookup.may_serve(recipe, stored)


class StorageGuard:
    """A storage, what it can do, and the fault containment around it (shared by every route)."""

    def __init__(self, storage: ICacheStorage, faults: FaultLog, clock: Clock) -> None:
        self.storage = storage
        self.collector = storage if isinstance(storage, ICollectableCacheStorage) else None
        self.multi = storage if isinstance(storage, IMultiGetCacheStorage) else None
        self.locks = storage if isinstance(storage, ILockableCacheStorage) else None
        self.faults = faults
        self.clock = clock
        self._resting_until = 0.0  # monotonic; 0.0 while the storage works
        self._index_locks = [threading.Lock() for _ in range(64)]

    def resting(self) -> bool:
        """True for ``FAULT_REST_SECONDS`` after a fault: entries are then left alone."""
        if not self._resting_until:
            return False
        if self.clock.monotonic() < self._resting_until:
            return True
        self._resting_until = 0.0  # rested: the next call tries the storage again
        return False

    def fault(self, operation: str, error: Exception, route: str) -> None:
        self.faults.report(operation, error, route)
        self._resting_until = self.clock.monotonic() + FAULT_REST_SECONDS

    def index_lock(self, resource: str) -> threading.Lock:
        """Serialises read-modify-writes of one resource's index within this process."""
        return self._index_locks[hash(resource) % len(self._index_locks)]


class EntryStore:
    """One route's entries: found, saved and invalidated on the guarded storage."""

    def __init__(self, guard: StorageGuard, route: str) -> None:
        self._guard = guard
        self._storage = guard.storage
        self._now = guard.clock.time
        self.route = route

    def find(self, target: Target, lookup: Lookup, now: float) -> StoredResponse | str:
        """The stored response for the request's variant, or why there is none (``URI_MISS``,
        ``VARY_MISS``).

        ``lookup.recipe`` is how the route says its responses vary. Where the storage has
        ``get_many``, that variant is fetched with the index in one call (one round trip); a
        variant stored under another recipe (the handler added a ``Vary``) costs one more read.
        Only responses ``lookup`` may serve are found (the credentials rule, ``policy.py``), and
        only while they are retained at ``now`` (a storage may return items past their ``ttl``).
        """
        guard = self._guard
        if guard._resting_until and guard.resting():
            return URI_MISS
        expected = lookup.recipe
        expected_variant = target.variant(expected)
        if guard.multi is not None:
            index, stored = self._read_pair(target.resource, expected_variant)
        else:
            index = self._read(target.resource, _decode_index)
            stored = None if index is None else self._read(expected_variant, _decode_response)
        if index is None or index.expires_at <= now:
            return URI_MISS
        if _usable(stored, index, expected, lookup, now):
            return stored
        for recipe in reversed(index.recipes):  # the newest way of varying first
            if recipe != expected:
                stored = self._read(target.variant(recipe), _decode_response)
                if _usable(stored, index, recipe, lookup, now):
                    return stored
        return VARY_MISS

    def save(self, target: Target, recipe: VaryRecipe, response: StoredResponse) -> bool:
        """Store ``response`` as the variant ``recipe`` selects, and list it in the index."""
        guard = self._guard
        if guard._resting_until and guard.resting():
            return False
        now = self._now()
        # Read-modify-write of the index: serialise it within this process. Across processes the
        # generation check keeps a lost update harmless (an unlisted variant is still invalidated).
        with guard.index_lock(target.resource):
            index = self._read(target.resource, _decode_index)
            if index is None or index.expires_at <= now:
                index = ResourceIndex(secrets.token_hex(6))
            variant = target.variant(recipe)
            response = replace(response, generation=index.generation)
            retention = response.retention
            if not self._write(variant, encode_response(response), retention):
                return False
            updated = index.with_variant(recipe, variant, response.retained_until, now)
            index_retention = max(retention, math.ceil(updated.expires_at - now))
            if not self._write(target.resource, encode_index(updated), index_retention):
                return False
        for dropped in index.dropped_by(updated):
            self._remove(dropped)
        return True

    @property
    def has_locks(self) -> bool:
        return self._guard.locks is not None

    def acquire_lock(self, name: str, ttl: float) -> tuple[str | None, bool]:
        """(our token, whether another process holds the lock); a failing storage locks nothing."""
        guard = self._guard
        if guard.locks is None or guard.resting():
            return None, False
        try:
            token = guard.locks.acquire_lock(name, ttl)
        except Exception as error:
            guard.fault("lock", error, self.route)
            return None, False
        return token, token is None

    def release_lock(self, name: str, token: str) -> None:
        guard = self._guard
        assert guard.locks is not None
        try:
            guard.locks.release_lock(name, token)
        except Exception as error:
            guard.fault("unlock", error, self.route)

    def invalidate(self, resource: str) -> None:
        """Make every stored variant of ``resource`` unusable, and remove what can be found."""
        index = self._read(resource, _decode_index)
        self._remove(resource)
        for variant, _ in index.variants if index else ():
            self._remove(variant)

    def _read(self, item_id: str, decode: Callable[[bytes], _Decoded]) -> _Decoded | None:
        try:
            item = self._storage.get(item_id)
        except (CacheError, KeyError):
            return None  # the storage protocol's miss
        except Exception as error:
            self._guard.fault("get", error, self.route)
            return None
        return self._decode(item_id, item, decode)

    def _read_pair(self, resource: str, variant: str) -> tuple[ResourceIndex | None, StoredResponse | None]:
        multi = self._guard.multi
        assert multi is not None
        try:
            index_item, variant_item = multi.get_many((resource, variant))
        except Exception as error:
            self._guard.fault("get", error, self.route)
            return None, None
        return self._decode(resource, index_item, _decode_index), self._decode(variant, variant_item, _decode_response)

    def _decode(self, item_id: str, item: CacheItem | None, decode: Callable[[bytes], _Decoded]) -> _Decoded | None:
        """The entry in ``item``; ``None`` for a miss, a tombstone or an entry that does not decode."""
        if item is None:
            return None
        try:
            blob = item.body
            if not blob:
                return None  # a tombstone
            return decode(blob)
        except DecodeError as error:
            # Logged, then removed: the next request misses quietly and stores a good entry.
            self._guard.faults.report("decode", error, self.route)
            self._remove(item_id)
        except Exception as error:  # a storage that returned something other than a CacheItem
            self._guard.faults.report("get", error, self.route)
        return None

    def _write(self, item_id: str, blob: bytes, seconds: int) -> bool:
        try:
            self._storage.set(CacheItem(item_id, blob, max(1, seconds), now=self._now()))
        except Exception as error:
            self._guard.fault("set", error, self.route)
            return False
        return True

    def _remove(self, item_id: str) -> None:
        # Without ``collect``, an empty, already expired item (a tombstone) overwrites the entry.
        tombstone = CacheItem.empty(item_id)
        collector = self._guard.collector
        try:
            if collector is not None:
                collector.collect(tombstone)
            else:
                self._storage.set(tombstone)
        except (CacheError, KeyError):
            pass
        except Exception as error:
            self._guard.faults.report("collect" if collector else "set", error, self.route)
