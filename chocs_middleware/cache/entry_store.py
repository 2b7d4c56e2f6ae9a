"""The cache's storage model on top of any ``ICacheStorage`` (``docs/design.md``, "Storage model").

A resource has an index entry and one entry per stored response (variant). This module turns
those into ``get``/``set``/``collect`` calls, decodes what comes back, and contains every
storage fault: a failing or misbehaving storage makes a request a miss, never an error.

``StorageGuard`` is the middleware's one link to its storage (its capabilities, and a breaker
per kind of operation); ``EntryStore`` is a route's view of it, which names the route in its logs.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

from .cache_storage import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ICompareAndSetCacheStorage,
    IGroupCacheStorage,
    ILockableCacheStorage,
    IMultiGetCacheStorage,
)
from .clock import Clock
from .entries import MAX_RECIPES_PER_RESOURCE, ResourceIndex, StoredResponse, VaryRecipe
from .error import CacheError, StorageFault, WriteRefused
from .faults import Breaker, FaultLog
from .keys import HOSTS, group_id, path_group_id
from .memo import BoundedMemo
from .pending import Kind, Pending, PendingInvalidations, Retrier
from .policy import NEGOTIATION_FIELDS, Lookup
from .serialisation import DecodeError, decode_index, decode_response, encode_index, encode_response

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10; annotations only

__all__ = [
    "URI_MISS",
    "EntryStore",
    "LocalGroups",
    "Missed",
    "Saved",
    "StorageGuard",
    "Target",
]

# Hot entries are decoded once: a storage returns the same bytes again on every hit. Entries of
# up to 8 KiB are remembered, 256 of each kind: at most 2 MiB of entries (and their bodies' copies).
_INDEXES: BoundedMemo[bytes, ResourceIndex] = BoundedMemo(decode_index, 256, 8 * 1024)
_RESPONSES: BoundedMemo[bytes, StoredResponse] = BoundedMemo(decode_response, 256, 8 * 1024)

_Decoded = TypeVar("_Decoded", ResourceIndex, StoredResponse)

MARKER_SECONDS = 3600
"""An invalidation's marker is kept at least this long (and as long as what it replaced): a miss
in flight longer than that, which saw no index at all, could store what it computed before."""
SAVE_ATTEMPTS = 3
MAX_GROUPS = 64
MAX_GROUP_LENGTH = 256
"""A stored response may be in up to 64 groups of up to 256 characters (RFC 9875 asks for 32 of 32)."""
MAX_LOCAL_HOSTS = 10_000
MAX_OFFERED = 8
"""At most this many stored responses of other request headers are offered for validation."""
MAX_METADATA_SIZE = 64 * 1024
"""What a stored entry may hold besides its body: a larger one was not written by this cache."""
MAX_MARKS = 10_000


class Target(Protocol):
    """The resource a request is for, and how to name its variants for this request."""

    @property
    def resource(self) -> str:
        """The id of the index of the request's path on its host."""

    @property
    def host(self) -> str: ...

    @property
    def canonical_path(self) -> str: ...

    @property
    def uri_prefix(self) -> str:
        """What the variant ids of the request's URI (path and query) start with."""

    def variant(self, recipe: VaryRecipe) -> str:
        """The id of the variant ``recipe`` selects for this request."""


class Missed(NamedTuple):
    """A lookup that found nothing this request may be given."""

    reason: str
    """RFC 9211 ``fwd``: ``uri-miss`` (nothing stored for the URI) or ``vary-miss``."""
    resource_index: ResourceIndex | None = None
    """The resource's index the lookup saw (``None``: none)."""
    unavailable: bool = False
    """The storage could not be asked (a fault, or its breaker is open)."""
    index_blob: bytes | None = None
    """The index entry as the lookup read it (``None``: none): a store compares against it first,
    without reading the index again."""

    @property
    def generation(self) -> str | None:
        """The generation of the index the lookup saw (``None``: none): a response computed now may
        be stored under it only while no invalidation has replaced it (``ResourceIndex.accepts``)."""
        return None if self.resource_index is None else self.resource_index.generation


URI_MISS = Missed("uri-miss")
UNAVAILABLE = Missed("uri-miss", unavailable=True)


class Saved(Enum):
    STORED = "stored"
    INVALIDATED_MEANWHILE = "invalidated-meanwhile"
    """An invalidation replaced the index the request saw: what it computed may be older."""
    NOT_STORED = "storage-unavailable"
    """The storage failed, or is being left alone after faults."""
    CONTENDED = "index-contended"
    """The index kept changing while this response was being added (other writers): not stored."""
    GROUPS_UNSUPPORTED = "groups-unsupported"
    """It is in cache groups, and the storage cannot keep groups (``IGroupCacheStorage``)."""
    TOO_MANY_GROUPS = "too-many-groups"
    """It is in more groups, or longer ones, than ``MAX_GROUPS`` / ``MAX_GROUP_LENGTH``."""


def _usable(
    stored: StoredResponse | None, index: ResourceIndex, recipe: VaryRecipe, lookup: Lookup, now: float
) -> TypeGuard[StoredResponse]:
    if stored is None or stored.generation != index.generation or stored.retained_until <= now:
        return False  # nothing, a response of an invalidated generation, or one kept too long
    return lookup.shared_allowed or lookup.may_serve(recipe, stored)  # the common case without a call


class LocalGroups:
    """Group invalidations and hosts, remembered by this process for a storage that cannot keep
    groups (no ``IGroupCacheStorage``). Such a storage never holds a grouped response; these
    marks refuse a response computed before a purge of its path on every host, in this process
    only (docs/invalidation.md, "Storages without groups"). Times are the monotonic clock's."""

    def __init__(self, clock: Clock) -> None:
        self._monotonic = clock.monotonic
        self._marks: dict[str, float] = {}
        self._hosts: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def mark(self, ids: Sequence[str]) -> None:
        now = self._monotonic()
        with self._lock:
            if len(self._marks) > MAX_MARKS:
                self._marks = {name: time for name, time in self._marks.items() if time > now - MARKER_SECONDS}
            for name in ids:
                self._marks[name] = now

    def invalidated_since(self, ids: Sequence[str], since: float) -> bool:
        marks = self._marks
        return bool(marks) and any(marks.get(name, -math.inf) >= since for name in ids)

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
        self.local = LocalGroups(clock)
        self.faults = faults
        self.clock = clock
        self.reads = Breaker(clock)
        self.writes = Breaker(clock)
        self.lock_calls = Breaker(clock)
        self.pending = PendingInvalidations()
        self._retries = EntryStore(self, "retry")
        self.retrier = Retrier(self.pending, self._retries.retry)
        self._index_locks = [threading.Lock() for _ in range(64)]

    @property
    def shared(self) -> bool:
        """Other processes use the storage too (it offers a lock across processes)."""
        return self.locks is not None

    def index_lock(self, resource: str) -> threading.Lock:
        """Serialises changes to one resource's index within this process."""
        return self._index_locks[hash(resource) % len(self._index_locks)]


class EntryStore:
    """One route's entries: found, saved and invalidated on the guarded storage."""

    def __init__(self, guard: StorageGuard, route: str) -> None:
        self._guard = guard
        self._storage = guard.storage
        self._now = guard.clock.time
        self.route = route

    def find(self, target: Target, lookup: Lookup, now: float) -> StoredResponse | Missed:
        """The stored response for the request's variant, or what the lookup found instead.

        ``lookup.recipe`` is how the route says its responses vary. Where the storage has
        ``get_many``, that variant is fetched with the index in one call (one round trip); a
        variant stored under another recipe (the handler added a ``Vary``) costs one more read.
        Only responses ``lookup`` may serve are found (the credentials rule, ``policy.py``), and
        only while they are retained at ``now`` (a storage may return items past their ``ttl``).
        """
        reads = self._guard.reads
        if reads.open_until and not reads.allows():
            return UNAVAILABLE
        expected = lookup.recipe
        expected_variant = target.variant(expected)
        multi = self._guard.multi
        try:
            if multi is not None:
                index_item, variant_item = multi.get_many((target.resource, expected_variant))
            else:
                index_item, variant_item = self._get_pair(target.resource, expected_variant)
        except Exception as error:
            self._fault(reads, "get", error)
            return UNAVAILABLE
        if reads.failures:
            reads.succeeded()
        index = self._decode(target.resource, index_item, _INDEXES)
        if index is None or index_item is None or index.expires_at <= now:
            return URI_MISS
        stored = self._decode(expected_variant, variant_item, _RESPONSES)
        if not _usable(stored, index, expected, lookup, now):
            stored = None
            for recipe in reversed(index.recipes):  # the newest way of varying first
                if recipe != expected:
                    other = self._read(target.variant(recipe), _RESPONSES)
                    if _usable(other, index, recipe, lookup, now):
                        stored = other
                        break
        if stored is None:
            # vary-miss: a response of this URI is listed, stored for other request headers.
            prefix = target.uri_prefix
            others = any(variant.startswith(prefix) and variant != expected_variant for variant, _ in index.variants)
            return Missed("vary-miss" if others else "uri-miss", index, index_blob=index_item.body)
        pending = self._guard.pending
        if pending.active and pending.hides(target.resource, stored.stored_at):
            return Missed("uri-miss", index, index_blob=index_item.body)  # the retrier lands its invalidation
        return stored

    def stored_for_others(
        self, target: Target, missed: Missed, lookup: Lookup, now: float
    ) -> tuple[StoredResponse, ...]:
        """After a ``vary-miss``: the responses of this URI stored for other request headers,
        which the handler may confirm for this request too (RFC 9111 §4.3.1: a cache may validate
        a response it cannot choose with the request's fields), newest first, each with an
        ``ETag``, at most ``MAX_OFFERED`` (one ``get_many`` where the storage has it).

        Only where every way the resource varies is content negotiation (``NEGOTIATION_FIELDS``:
        ``Accept`` and its kin) and never per credentials, and while no more ways than the index
        lists may exist: a field that may identify a user (a key, a cookie, a tenant) never lets
        one request's stored response be confirmed for another, whatever its entity tag says.
        Only responses the request may be given (``lookup``, the credentials rule) of the index's
        generation, still retained, are offered.
        """
        index = missed.resource_index
        if missed.reason != "vary-miss" or index is None:
            return ()
        recipes = index.recipes
        if (
            not recipes
            or len(recipes) >= MAX_RECIPES_PER_RESOURCE
            or any(
                recipe.per_credentials or not NEGOTIATION_FIELDS.issuperset(recipe.field_names) for recipe in recipes
            )
        ):
            return ()
        own = {target.variant(recipe) for recipe in recipes}
        prefix = target.uri_prefix
        ids = [
            variant
            for variant, expires_at in reversed(index.variants)
            if expires_at > now and variant.startswith(prefix) and variant not in own
        ][:MAX_OFFERED]
        if not ids:
            return ()
        reads = self._guard.reads
        if reads.open_until and not reads.allows():
            return ()
        multi = self._guard.multi
        try:
            items = multi.get_many(ids) if multi is not None else [self._get(variant) for variant in ids]
        except Exception as error:
            self._fault(reads, "get", error)
            return ()
        offered: list[StoredResponse] = []
        pending = self._guard.pending
        for variant, item in zip(ids, items):
            stored = self._decode(variant, item, _RESPONSES)
            if (
                _usable(stored, index, recipes[-1], lookup, now)  # every recipe here is a shared one
                and stored.etag is not None
                and not (pending.active and pending.hides(target.resource, stored.stored_at))
                and all(stored.etag != known.etag for known in offered)
            ):
                offered.append(stored)
        return tuple(offered)

    def _get_pair(self, resource: str, variant: str) -> tuple[CacheItem | None, CacheItem | None]:
        index = self._get(resource)
        return index, None if index is None else self._get(variant)

    def generation_of(self, resource: str) -> str | None:
        """The generation of the resource's index now (``None``: none, or the storage failed)."""
        index = self._read(resource, _INDEXES)
        return None if index is None else index.generation

    def save(
        self,
        target: Target,
        recipe: VaryRecipe,
        response: StoredResponse,
        seen: str | None,
        groups: tuple[str, ...] = (),
        since: float | None = None,
        seen_blob: bytes | None = None,
        seen_blob_known: bool = False,
    ) -> Saved:
        """Store ``response`` as the variant ``recipe`` selects, list it in the index and in its
        cache ``groups``; but only while nothing invalidated it since the request looked, so that
        a response computed before an invalidation is never stored after it:

        - its path: the index is still the one the lookup saw (generation ``seen``);
        - its groups, its path on every host, everything: not invalidated since ``since``, the
          ``storage_time`` read before the handler was asked (``None``: now).

        With a storage that can ``compare_and_set`` (and keep groups), the checks and the writes
        are one step for every process; otherwise they are one step within this process. When the
        lookup's view of the index is known (``seen_blob``, with ``seen_blob_known``), the first
        attempt compares against it without reading the index again: one write, one round trip.
        """
        if groups and self._guard.grouped is None:
            return Saved.GROUPS_UNSUPPORTED
        if len(groups) > MAX_GROUPS or any(len(group) > MAX_GROUP_LENGTH for group in groups):
            return Saved.TOO_MANY_GROUPS
        writes = self._guard.writes
        if writes.open_until and not writes.allows():
            return Saved.NOT_STORED
        now = self._now()
        if since is None:
            since = self.storage_time()
            if since is None:
                return Saved.NOT_STORED
        with self._guard.index_lock(target.resource):
            for attempt in range(SAVE_ATTEMPTS):
                if attempt == 0 and seen_blob_known:
                    item = None if seen_blob is None else CacheItem(target.resource, seen_blob, 1, now=now)
                else:
                    try:
                        item = self._get(target.resource)
                    except Exception as error:
                        self._fault(self._guard.reads, "get", error)
                        return Saved.NOT_STORED
                blob = item.body if item else None
                index = self._decode(target.resource, item, _INDEXES)
                if index is not None and index.expires_at <= now:
                    index, blob = None, None
                if index is None:
                    if seen is not None:  # the index it saw is gone: invalidated, or evicted
                        return Saved.INVALIDATED_MEANWHILE
                    index = ResourceIndex(secrets.token_hex(6))
                elif not index.accepts(seen):
                    return Saved.INVALIDATED_MEANWHILE
                variant = target.variant(recipe)
                stored = replace(response, generation=index.generation)
                updated = index.with_variant(recipe, variant, stored.retained_until, now)
                items = (
                    self._item(variant, encode_response(stored), stored.retained_until, now, stored.needed_until),
                    self._item(target.resource, encode_index(updated), updated.expires_at, now),
                )
                try:
                    written = self._compare_and_set(target, blob, items, groups, since)
                except Exception as error:
                    self._fault(writes, "set", error)
                    return Saved.NOT_STORED
                if written is None:
                    return Saved.INVALIDATED_MEANWHILE
                if written:
                    if writes.failures:
                        writes.succeeded()
                    return Saved.STORED
        return Saved.CONTENDED

    def _compare_and_set(
        self, target: Target, expected: bytes | None, items: Sequence[CacheItem], groups: tuple[str, ...], since: float
    ) -> bool | None:
        """Write ``items`` if the index still holds ``expected`` (``False`` if not), unless an
        invalidation of the response's groups, of its path on every host or of everything came
        since ``since`` (``None``)."""
        host, guard = target.host, self._guard
        on_host = [group_id(host, group) for group in groups]
        checked = [*on_host, *(group_id(None, group) for group in groups), path_group_id(target.canonical_path)]
        grouped = guard.grouped
        if grouped is not None:
            # On a shared storage a response is also listed in its groups on every host and in its
            # path's group, so that a purge of them on every host is one step whatever the number of
            # hosts; a storage only this process uses saves that memory, and such a purge visits
            # the hosts it knows (``Purger``).
            listed = on_host if guard.process_local else checked
            variant = items[0].id
            listings = [*((group, variant) for group in listed), (HOSTS, host)]
            return grouped.compare_and_set_grouped(target.resource, expected, items, listings, checked, since)
        local = guard.local
        if local.invalidated_since(checked, since):
            return None
        local.add_host(host)
        conditional = guard.conditional
        if conditional is not None:
            return conditional.compare_and_set(target.resource, expected, items)
        item = self._get(target.resource)
        if (item.body if item else None) != expected:  # within this process, the index lock makes this one step
            return False
        for item in items:
            self._storage.set(item)
        return True

    def invalidate(self, resource: str, url: str, attempt: bool = True) -> bool:
        """Make every stored variant of ``resource`` (at ``url``) unusable: its index is replaced by
        a marker of a new generation. Attempted even while writes rest (``attempt=False``: not
        attempted at all, because the storage already failed this request). When the storage does
        not take it, this process remembers it (``PendingInvalidations``), logs it at ERROR, and
        retries it in the background until it lands. Returns whether the storage took it."""
        now = self._now()
        pending = self._guard.pending
        if attempt and self._write_marker(resource, now):
            if pending.active:
                pending.done(resource)
            return True
        self._remember(Pending(resource, Kind.PATH, url), now)
        self._guard.faults.log(
            logging.ERROR,
            ("invalidation", self.route),
            "cache could not invalidate %s (route %s): this process will not serve what was stored "
            "before, and retries in the background; other processes sharing the storage may serve it until then",
            url,
            self.route,
        )
        return False

    def _remember(self, pending: Pending, now: float) -> None:
        self._guard.pending.add(pending, now)
        self._guard.retrier.wake()

    def storage_time(self) -> float | None:
        """The clock invalidations are recorded with (``IGroupCacheStorage.storage_time``, or this
        process's monotonic clock); read before the handler is asked, it is what a response
        computed then must not be older than. ``None``: the storage failed."""
        grouped = self._guard.grouped
        if grouped is None:
            return self._guard.clock.monotonic()
        try:
            return grouped.storage_time()
        except Exception as error:
            self._fault(self._guard.reads, "time", error)
            return None

    def invalidate_groups(self, host: str, groups: tuple[str, ...], attempt: bool = True) -> bool:
        """Make every stored response in ``groups`` of ``host`` unusable (RFC 9875), and refuse
        responses to those groups computed before now. When the storage does not take it (or
        ``attempt`` is False), this process logs it at ERROR and retries it in the background.
        Returns whether the storage took it."""
        ids = [group_id(host, group) for group in groups]
        grouped = self._guard.grouped
        if grouped is None:
            self._guard.local.mark(ids)  # nothing grouped is stored there: only refuse what is in flight
            return True
        if attempt:
            try:
                grouped.invalidate_groups(ids, MARKER_SECONDS)
                return True
            except Exception as error:
                self._fault(self._guard.writes, "invalidate groups", error)
        now = self._now()
        for group, name in zip(ids, groups):
            self._remember(Pending(group, Kind.GROUP, f"group {name!r} of {host}"), now)
        self._guard.faults.log(
            logging.ERROR,
            ("group invalidation", self.route),
            "cache could not invalidate the groups %s of %s (route %s): it retries in the background; until "
            "then their stored responses may be served",
            ", ".join(groups),
            host,
            self.route,
        )
        return False

    def retry(self, pending: Pending) -> bool:
        """Try a pending invalidation again (the ``Retrier`` does, in the background); whether it landed."""
        grouped = self._guard.grouped
        if pending.kind is Kind.PATH or grouped is None:
            landed = self._write_marker(pending.name, self._now())
        else:
            try:
                grouped.invalidate_groups([pending.name], MARKER_SECONDS)
                landed = True
            except Exception as error:
                self._fault(self._guard.writes, "invalidate groups", error)
                landed = False
        if landed:
            self._guard.faults.log(
                logging.WARNING, ("invalidated", pending.name), "cache invalidated %s on a retry", pending.description
            )
        return landed

    def _write_marker(self, resource: str, now: float) -> bool:
        try:
            self.replace_index(resource, now)
            return True
        except Exception as error:
            self._fault(self._guard.writes, "set", error)
            return False

    def replace_index(self, resource: str, now: float, only_if_stored: bool = False) -> int:
        """Replace the index of ``resource`` with an invalidation's marker, and remove the variants
        it listed. Returns how many of those were still live. A storage fault is raised.

        ``only_if_stored``: leave a path with no index alone (a purge on every host, whose mark
        refuses what is in flight). The marker is bookkeeping that is never needed (``needed_for=0``): a
        bounded storage drops markers before anything else, and never a response for one. When
        the storage refuses writes (``WriteRefused``: Redis out of memory under
        ``noeviction``), the index and its variants are deleted instead, which such a storage
        accepts, and the error is raised: the marker is still to be written, by a retry.
        """
        with self._guard.index_lock(resource):
            index = self._read(resource, _INDEXES)
            if index is None and only_if_stored:
                return 0
            kept_until = max(now + MARKER_SECONDS, index.expires_at if index is not None else 0.0)
            marker = ResourceIndex.marker(secrets.token_hex(6), now, kept_until)
            item = self._item(resource, encode_index(marker), kept_until, now)
            item.needed_for = 0
            try:
                self._storage.set(item)
            except WriteRefused:
                self._remove(resource)  # nothing of it can be found any more; the retry writes the marker
                self._remove_variants(index)
                raise
        live = [variant for variant, expires_at in index.variants if expires_at > now] if index is not None else []
        self._remove_variants(index)  # only to free room: the new generation already hides them
        return len(live)

    def _remove_variants(self, index: ResourceIndex | None) -> None:
        for variant, _ in index.variants if index is not None else ():
            self._remove(variant)

    # -- locks -----------------------------------------------------------------------------------

    @property
    def has_locks(self) -> bool:
        return self._guard.locks is not None

    def acquire_lock(self, name: str, ttl: float) -> tuple[str | None, bool]:
        """(our token, whether another process holds the lock); a resting storage locks nothing.
        A storage that fails now raises ``StorageFault`` (logged): the request leaves it alone."""
        guard = self._guard
        breaker = guard.lock_calls
        if guard.locks is None or (breaker.open_until and not breaker.allows()):
            return None, False
        try:
            token = guard.locks.acquire_lock(name, ttl)
        except Exception as error:
            self._fault(breaker, "lock", error)
            raise StorageFault(f"lock {name}: {error!r}") from error
        if breaker.failures:
            breaker.succeeded()
        return token, token is None

    def release_lock(self, name: str, token: str) -> None:
        guard = self._guard
        assert guard.locks is not None
        try:
            guard.locks.release_lock(name, token)
        except Exception as error:
            self._fault(guard.lock_calls, "unlock", error)

    # -- items -----------------------------------------------------------------------------------

    def _get(self, item_id: str) -> CacheItem | None:
        """The item, or ``None`` for the storage protocol's miss; other exceptions are faults."""
        try:
            return self._storage.get(item_id)
        except (CacheError, KeyError):
            return None

    def _read(self, item_id: str, memo: BoundedMemo[bytes, _Decoded]) -> _Decoded | None:
        reads = self._guard.reads
        if reads.open_until and not reads.allows():
            return None
        try:
            item = self._get(item_id)
        except Exception as error:
            self._fault(reads, "get", error)
            return None
        return self._decode(item_id, item, memo)

    def _decode(self, item_id: str, item: CacheItem | None, memo: BoundedMemo[bytes, _Decoded]) -> _Decoded | None:
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
            if len(blob) > self._guard.max_entry_size:
                raise DecodeError(f"an entry of {len(blob)} bytes, more than this cache stores")
            return memo.compute(blob)
        except DecodeError as error:
            # Logged, then removed: the next request misses quietly and stores a good entry.
            self._guard.faults.report("decode", error, self.route)
            self._remove(item_id)
        except Exception as error:  # a storage that returned something other than a CacheItem of bytes
            self._guard.faults.report("get", error, self.route)
        return None

    def _item(
        self, item_id: str, blob: bytes, expires_at: float, now: float, needed_until: float | None = None
    ) -> CacheItem:
        """A variant (``needed_until`` given) or an index (bookkeeping) as the storage keeps it."""
        ttl = max(1, math.ceil(expires_at - now))
        if needed_until is None:
            return CacheItem(item_id, blob, ttl, now=now, bookkeeping=True)
        return CacheItem(item_id, blob, ttl, now=now, needed_for=max(0, math.ceil(needed_until - now)))

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

    def _fault(self, breaker: Breaker, operation: str, error: Exception) -> None:
        self._guard.faults.report(operation, error, self.route)
        breaker.failed(error)
