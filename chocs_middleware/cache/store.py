"""The cache's storage model (DESIGN.md §5) on top of any ``ICacheStorage``.

A resource has an index entry and one entry per stored response (variant). This module turns
those into ``get``/``set``/``collect`` calls, decodes what comes back, and contains every
storage fault: a failing or misbehaving storage makes a request a miss, never an error.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Protocol, TypeVar

from .cache_storage import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ILockableCacheStorage,
    IMultiGetCacheStorage,
)
from .entries import ResourceIndex, StoredResponse, VaryRecipe
from .error import CacheError
from .faults import FaultLog
from .memory_storage import InMemoryCacheStorage
from .serialisation import DecodeError, decode_index, decode_response, encode_index, encode_response

__all__ = ["EntryStore", "Lookup", "Target", "may_serve", "miss_reason"]

# Hot entries are decoded once: a storage returns the same bytes again on every hit.
_decode_response = lru_cache(maxsize=256)(decode_response)
_decode_index = lru_cache(maxsize=256)(decode_index)

_Decoded = TypeVar("_Decoded")


class Target(Protocol):
    """The resource a request is for, and how to name its variants for this request."""

    @property
    def resource(self) -> str:
        """The id of the resource's index entry."""

    def variant(self, recipe: VaryRecipe) -> str:
        """The id of the variant ``recipe`` selects for this request."""


Lookup = tuple["ResourceIndex | None", "StoredResponse | None"]
"""What a lookup found: the resource's index (``None``: nothing is stored for the URI) and the
response stored for the request's variant (``None``: nothing for this variant)."""


def miss_reason(index: ResourceIndex | None, stored: StoredResponse | None) -> str:
    """RFC 9211 ``fwd`` value for a request that found nothing usable."""
    if index is None:
        return "uri-miss"
    if stored is None:
        return "vary-miss"
    return "stale"


def may_serve(recipe: VaryRecipe, stored: StoredResponse, shared_allowed: bool) -> bool:
    """Whether a response stored under ``recipe`` may answer a request (see ``docs/security.md``):
    one kept per credentials was found with the request's own, a shared one only when the
    request may have shared responses or the response is explicitly shareable."""
    return shared_allowed or recipe.per_credentials or stored.public


def _usable(stored: StoredResponse | None, index: ResourceIndex, recipe: VaryRecipe, shared_allowed: bool) -> bool:
    if stored is None or stored.generation != index.generation:
        return False  # nothing, or a response of an invalidated generation
    return shared_allowed or may_serve(recipe, stored, shared_allowed)


FAULT_REST_SECONDS = 1.0
"""After a storage fault, entries are neither read nor written for this long: a Redis that is down
or stalled then costs a request at most one timeout, not one per storage call, and is not
hammered while it recovers. Invalidations are always attempted."""


class EntryStore:
    def __init__(self, storage: ICacheStorage, faults: FaultLog) -> None:
        self._storage = storage
        # The built-in storages never return an expired item; others may, and are checked.
        self._returns_expired = not isinstance(storage, InMemoryCacheStorage)
        self._collector = storage if isinstance(storage, ICollectableCacheStorage) else None
        self._multi = storage if isinstance(storage, IMultiGetCacheStorage) else None
        self._locks = storage if isinstance(storage, ILockableCacheStorage) else None
        self._faults = faults
        self._resting_until = 0.0  # monotonic; 0.0 while the storage works
        self._index_locks = [threading.Lock() for _ in range(64)]

    def find(self, target: Target, expected: VaryRecipe, route: str, shared_allowed: bool = True) -> Lookup:
        """The stored response for the request's variant, if the resource has one.

        ``expected`` is how the route says its responses vary. Where the storage has
        ``get_many``, that variant is fetched with the index in one call (one round trip); a
        variant stored under another recipe (the handler added a ``Vary``) costs one more read.
        Without ``shared_allowed`` (a request with credentials on a route that is not public),
        only responses kept for its credentials, or explicitly shareable ones, are found.
        """
        if self._resting_until and self._resting():
            return None, None
        expected_variant = target.variant(expected)
        if self._multi is not None:
            index, stored = self._read_pair(target.resource, expected_variant, route)
        else:
            index = self._read(target.resource, _decode_index, route)
            stored = None if index is None else self._read(expected_variant, _decode_response, route)
        if index is None:
            return None, None
        if _usable(stored, index, expected, shared_allowed):
            return index, stored
        for recipe in reversed(index.recipes):  # the newest way of varying first
            if recipe != expected:
                stored = self._read(target.variant(recipe), _decode_response, route)
                if _usable(stored, index, recipe, shared_allowed):
                    return index, stored
        return index, None

    def save(self, target: Target, recipe: VaryRecipe, response: StoredResponse, route: str) -> bool:
        """Store ``response`` as the variant ``recipe`` selects, and list it in the index."""
        if self._resting_until and self._resting():
            return False
        now = time.time()
        # Read-modify-write of the index: serialise it within this process. Across processes the
        # generation check keeps a lost update harmless (an unlisted variant is still invalidated).
        with self._index_locks[hash(target.resource) % len(self._index_locks)]:
            index = self._read_index(target.resource, route) or ResourceIndex(secrets.token_hex(6))
            variant = target.variant(recipe)
            response = replace(response, generation=index.generation)
            retention = response.retention  # stored just now; often the route's own int object, not a new one
            if not self._write(variant, encode_response(response), retention, route):
                return False
            updated = index.with_variant(recipe, variant, response.retained_until, now)
            index_retention = max(retention, math.ceil(updated.expires_at - now))
            if not self._write(target.resource, encode_index(updated), index_retention, route):
                return False
        for dropped in index.dropped_by(updated):
            self._remove(dropped, route)
        return True

    @property
    def has_locks(self) -> bool:
        return self._locks is not None

    def acquire_lock(self, name: str, ttl: float, route: str) -> tuple[str | None, bool]:
        """(our token, whether another process holds the lock); a failing storage locks nothing."""
        if self._locks is None or (self._resting_until and self._resting()):
            return None, False
        try:
            token = self._locks.acquire_lock(name, ttl)
        except Exception as error:
            self._fault("lock", error, route)
            return None, False
        return token, token is None

    def release_lock(self, name: str, token: str, route: str) -> None:
        assert self._locks is not None
        try:
            self._locks.release_lock(name, token)
        except Exception as error:
            self._fault("unlock", error, route)

    def invalidate(self, resource: str, route: str) -> None:
        """Make every stored variant of ``resource`` unusable, and remove what can be found."""
        index = self._read_index(resource, route)
        self._remove(resource, route)
        for variant, _ in index.variants if index else ():
            self._remove(variant, route)

    def _read_index(self, resource: str, route: str) -> ResourceIndex | None:
        return self._read(resource, _decode_index, route)

    def _read(self, item_id: str, decode: Callable[[bytes], _Decoded], route: str) -> _Decoded | None:
        try:
            item = self._storage.get(item_id)
            blob = item.body
            if not blob or (self._returns_expired and item.is_expired):
                return None  # a tombstone, or an item its storage kept too long
            return decode(blob)  # two reads per hit: the common path makes no further call
        except (CacheError, KeyError):
            return None
        except DecodeError as error:
            self._drop_undecodable(item_id, error, route)
        except Exception as error:
            self._fault("get", error, route)
        return None

    def _read_pair(self, resource: str, variant: str, route: str) -> tuple[ResourceIndex | None, StoredResponse | None]:
        assert self._multi is not None
        try:
            index_item, variant_item = self._multi.get_many((resource, variant))
        except Exception as error:
            self._fault("get", error, route)
            return None, None
        return (
            self._decode_item(resource, index_item, _decode_index, route),
            self._decode_item(variant, variant_item, _decode_response, route),
        )

    def _decode_item(
        self, item_id: str, item: CacheItem | None, decode: Callable[[bytes], _Decoded], route: str
    ) -> _Decoded | None:
        if item is None:
            return None
        try:
            blob = item.body
            if not blob or (self._returns_expired and item.is_expired):
                return None
            return decode(blob)
        except DecodeError as error:
            self._drop_undecodable(item_id, error, route)
        except Exception as error:  # a storage that returned something other than a CacheItem
            self._faults.report("get", error, route)
        return None

    def _fault(self, operation: str, error: Exception, route: str) -> None:
        self._faults.report(operation, error, route)
        self._resting_until = time.monotonic() + FAULT_REST_SECONDS

    def _resting(self) -> bool:
        if time.monotonic() < self._resting_until:
            return True
        self._resting_until = 0.0  # rested: the next call tries the storage again
        return False

    def _drop_undecodable(self, item_id: str, error: DecodeError, route: str) -> None:
        # Logged, then removed: the next request misses quietly and stores a good entry.
        self._faults.report("decode", error, route)
        self._remove(item_id, route)

    def _write(self, item_id: str, blob: bytes, seconds: int, route: str) -> bool:
        try:
            self._storage.set(CacheItem(item_id, blob, max(1, seconds)))
        except Exception as error:
            self._fault("set", error, route)
            return False
        return True

    def _remove(self, item_id: str, route: str) -> None:
        # Without ``collect``, an empty, already expired item (a tombstone) overwrites the entry.
        tombstone = CacheItem.empty(item_id)
        try:
            if self._collector is not None:
                self._collector.collect(tombstone)
            else:
                self._storage.set(tombstone)
        except (CacheError, KeyError):
            pass
        except Exception as error:
            self._faults.report("collect" if self._collector else "set", error, route)
