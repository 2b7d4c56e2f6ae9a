"""The cache's storage model on any ``ICacheStorage``, for reading and storing (``docs/design.md``,
"Storage model"): a resource has an index entry and one entry per stored response (variant).

``EntryStore`` is a route's view of the guarded storage (it names the route in its logs): it
finds the response a request may be given, or says what it found instead (``Missed``), and
stores a response only while nothing invalidated what its request saw (``Stored`` or
``NotStored``). Invalidation is ``invalidation.py``'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..decisions.credentials import NEGOTIATION_FIELDS, Lookup
from ..decisions.values import MAX_RECIPES_PER_RESOURCE, ResourceIndex, StoredResponse, VaryRecipe
from ..error import StorageFault
from ..storages.protocol import CacheItem
from .guard import INDEXES, RESPONSES, StorageGuard, Unavailable, item
from .ids import HOSTS, group_id, path_group_id
from .serialisation import encode_index, encode_response

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10; annotations only

__all__ = ["URI_MISS", "EntryStore", "Missed", "NotStored", "Refusal", "Seen", "Stored", "Target"]

SAVE_ATTEMPTS = 3
MAX_GROUPS = 64
MAX_GROUP_LENGTH = 256
"""A stored response may be in up to 64 groups of up to 256 characters (RFC 9875 asks for 32 of 32)."""
MAX_OFFERED = 8
"""At most this many stored responses of other request headers are offered for validation."""


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


class Seen(NamedTuple):
    """The index a request's lookup saw: what its answer may be stored under, and only while it is
    still there (``ResourceIndex.accepts``)."""

    generation: str | None
    """Its generation (``None``: there was none)."""
    blob: bytes | None = None
    """The index entry as read (``None``: none), when ``known``."""
    known: bool = False
    """``blob`` is what the storage held: a store compares against it without reading the index again."""


class Missed(NamedTuple):
    """A lookup that found nothing this request may be given."""

    reason: str
    """RFC 9211 ``fwd``: ``uri-miss`` (nothing stored for the URI) or ``vary-miss``."""
    resource_index: ResourceIndex | None = None
    """The resource's index the lookup saw (``None``: none)."""
    unavailable: bool = False
    """The storage could not be asked (a fault, or its breaker is open)."""
    index_blob: bytes | None = None
    """The index entry as the lookup read it (``None``: none)."""

    @property
    def generation(self) -> str | None:
        """The generation of the index the lookup saw (``None``: none)."""
        return None if self.resource_index is None else self.resource_index.generation

    @property
    def seen(self) -> Seen:
        return Seen(self.generation, self.index_blob, not self.unavailable)


URI_MISS = Missed("uri-miss")
UNAVAILABLE = Missed("uri-miss", unavailable=True)


class Refusal(Enum):
    """Why a response that may be stored was not (its ``Cache-Status`` detail)."""

    SUPERSEDED = "invalidated-meanwhile"
    """An invalidation came since the request looked: what it computed may be older."""
    STORAGE_UNAVAILABLE = "storage-unavailable"
    """The storage failed, or is being left alone after faults."""
    CONTENDED = "index-contended"
    """The index kept changing while this response was being added (other writers)."""
    GROUPS_UNSUPPORTED = "groups-unsupported"
    """It is in cache groups, and the storage cannot keep groups (``IGroupCacheStorage``)."""
    TOO_MANY_GROUPS = "too-many-groups"
    """It is in more groups, or longer ones, than ``MAX_GROUPS`` / ``MAX_GROUP_LENGTH``."""


class Stored(NamedTuple):
    response: StoredResponse
    """As stored: stamped with the generation of the index that lists it."""


class NotStored(NamedTuple):
    reason: Refusal


def _usable(
    stored: StoredResponse | None, index: ResourceIndex, recipe: VaryRecipe, lookup: Lookup, now: float
) -> TypeGuard[StoredResponse]:
    if stored is None or stored.generation != index.generation or stored.retained_until <= now:
        return False  # nothing, a response of an invalidated generation, or one kept too long
    return lookup.shared_allowed or lookup.may_serve(recipe, stored)  # the common case without a call


class EntryStore:
    """One route's entries: found and stored on the guarded storage."""

    def __init__(self, guard: StorageGuard, route: str) -> None:
        self._guard = guard
        self._now = guard.clock.time
        self.route = route

    def find(self, target: Target, lookup: Lookup, now: float) -> StoredResponse | Missed:
        """The stored response for the request's variant, or what the lookup found instead.

        ``lookup.recipe`` is how the route says its responses vary. Where the storage has
        ``get_many``, that variant is fetched with the index in one call (one round trip); a
        variant stored under another recipe (the handler added a ``Vary``) costs one more read.
        Only responses ``lookup`` may serve are found (the credentials rule), and only while they
        are retained at ``now`` (a storage may return items past their ``ttl``).
        """
        guard = self._guard
        expected = lookup.recipe
        expected_variant = target.variant(expected)
        reads, multi = guard.reads, guard.multi
        if reads.open_until and not reads.allows():
            return UNAVAILABLE
        try:  # guard.attempt, written out: every hit comes this way
            if multi is not None:
                index_item, variant_item = multi.get_many((target.resource, expected_variant))
            else:
                index_item = guard.get(target.resource)
                variant_item = None if index_item is None else guard.get(expected_variant)
        except Exception as error:
            guard.fault(reads, "get", error, self.route)
            return UNAVAILABLE
        if reads.failures:
            reads.succeeded()
        # The decoder's memos first, written out (a hit finds both entries there); else the decoder.
        blob = index_item.body if index_item.__class__ is CacheItem else None
        index = INDEXES.get(blob) if blob.__class__ is bytes else None
        if index is None:
            index = guard.decode(target.resource, index_item, INDEXES, self.route)
        if index is None or index_item is None or index.expires_at <= now:
            return URI_MISS
        blob = variant_item.body if variant_item.__class__ is CacheItem else None
        stored = RESPONSES.get(blob) if blob.__class__ is bytes else None
        if stored is None:
            stored = guard.decode(expected_variant, variant_item, RESPONSES, self.route)
        if not _usable(stored, index, expected, lookup, now):
            stored = self._stored_under_another_recipe(target, index, lookup, now)
        if stored is None:
            # vary-miss: a response of this URI is listed, stored for other request headers.
            prefix = target.uri_prefix
            others = any(variant.startswith(prefix) and variant != expected_variant for variant, _ in index.variants)
            return Missed("vary-miss" if others else "uri-miss", index, index_blob=index_item.body)
        pending = guard.pending
        if pending.active and pending.hides(target.resource, stored.stored_at):
            return Missed("uri-miss", index, index_blob=index_item.body)  # the retrier lands its invalidation
        return stored

    def _stored_under_another_recipe(
        self, target: Target, index: ResourceIndex, lookup: Lookup, now: float
    ) -> StoredResponse | None:
        for recipe in reversed(index.recipes):  # the newest way of varying first
            if recipe != lookup.recipe:
                other = self._guard.read(target.variant(recipe), RESPONSES, self.route)
                if _usable(other, index, recipe, lookup, now):
                    return other
        return None

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
        Only responses the request may be given (``lookup``) of the index's generation, still
        retained, are offered.
        """
        index = missed.resource_index
        if missed.reason != "vary-miss" or index is None or not _negotiated_only(index.recipes):
            return ()
        own = {target.variant(recipe) for recipe in index.recipes}
        prefix = target.uri_prefix
        ids = [
            variant
            for variant, expires_at in reversed(index.variants)
            if expires_at > now and variant.startswith(prefix) and variant not in own
        ][:MAX_OFFERED]
        guard = self._guard
        items = guard.attempt(guard.reads, "get", self.route, self._get_many, ids) if ids else ()
        if isinstance(items, Unavailable):
            return ()
        offered: list[StoredResponse] = []
        pending = guard.pending
        for variant, found in zip(ids, items):
            stored = guard.decode(variant, found, RESPONSES, self.route)
            if (
                _usable(stored, index, index.recipes[-1], lookup, now)  # every recipe here is a shared one
                and stored.etag is not None
                and not (pending.active and pending.hides(target.resource, stored.stored_at))
                and all(stored.etag != known.etag for known in offered)
            ):
                offered.append(stored)
        return tuple(offered)

    def _get_many(self, ids: Sequence[str]) -> Sequence[CacheItem | None]:
        guard = self._guard
        return guard.multi.get_many(ids) if guard.multi is not None else [guard.get(variant) for variant in ids]

    def save(
        self,
        target: Target,
        recipe: VaryRecipe,
        response: StoredResponse,
        seen: Seen,
        groups: tuple[str, ...],
        since: float,
    ) -> Stored | NotStored:
        """Store ``response`` as the variant ``recipe`` selects, list it in the index and in its
        cache ``groups``; but only while nothing invalidated it since the request looked, so that
        a response computed before an invalidation is never stored after it:

        - its path: the index is still the one the lookup saw (``seen``);
        - its groups, its path on every host, everything: not invalidated since ``since``, the
          ``storage_time`` read before the handler was asked.

        With a storage that can ``compare_and_set`` (and keep groups), the checks and the writes
        are one step for every process; otherwise they are one step within this process. When the
        lookup's view of the index is known, the first attempt compares against it without
        reading the index again: one write, one round trip. Returns the response as stored.
        """
        if groups and self._guard.grouped is None:
            return NotStored(Refusal.GROUPS_UNSUPPORTED)
        if len(groups) > MAX_GROUPS or any(len(group) > MAX_GROUP_LENGTH for group in groups):
            return NotStored(Refusal.TOO_MANY_GROUPS)
        writes = self._guard.writes
        if writes.open_until and not writes.allows():
            return NotStored(Refusal.STORAGE_UNAVAILABLE)
        with self._guard.index_lock(target.resource):
            for attempt in range(SAVE_ATTEMPTS):
                current: CacheItem | Unavailable | None
                if attempt == 0 and seen.known:
                    current = None if seen.blob is None else CacheItem(target.resource, seen.blob, 1)
                else:
                    current = self._guard.attempt(
                        self._guard.reads, "get", self.route, self._guard.get, target.resource
                    )
                    if isinstance(current, Unavailable):
                        return NotStored(Refusal.STORAGE_UNAVAILABLE)
                outcome = self._save_against(target, recipe, response, seen, groups, since, current)
                if outcome is not None:
                    return outcome
        return NotStored(Refusal.CONTENDED)

    def _save_against(
        self,
        target: Target,
        recipe: VaryRecipe,
        response: StoredResponse,
        seen: Seen,
        groups: tuple[str, ...],
        since: float,
        current: CacheItem | None,
    ) -> Stored | NotStored | None:
        """One attempt against the index as ``current`` holds it; ``None``: it changed meanwhile."""
        now = self._now()
        blob = current.body if current else None
        index = self._guard.decode(target.resource, current, INDEXES, self.route)
        if index is not None and index.expires_at <= now:
            index, blob = None, None
        if index is None:
            if seen.generation is not None:  # the index it saw is gone: invalidated, or evicted
                return NotStored(Refusal.SUPERSEDED)
            index = ResourceIndex(secrets.token_hex(6))
        elif not index.accepts(seen.generation):
            return NotStored(Refusal.SUPERSEDED)
        variant = target.variant(recipe)
        stored = replace(response, generation=index.generation)
        updated = index.with_variant(recipe, variant, stored.retained_until, now)
        items = (
            item(variant, encode_response(stored), stored.retained_until, now, stored.needed_until),
            item(target.resource, encode_index(updated), updated.expires_at, now),
        )
        guard = self._guard
        written = guard.attempt(
            guard.writes, "set", self.route, self._compare_and_set, target, blob, items, groups, since
        )
        if written is Unavailable.FAILED or written is Unavailable.RESTING:
            return NotStored(Refusal.STORAGE_UNAVAILABLE)
        if written is None:
            return NotStored(Refusal.SUPERSEDED)
        return Stored(stored) if written else None

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
        if guard.conditional is not None:
            return guard.conditional.compare_and_set(target.resource, expected, items)
        current = guard.get(target.resource)
        if (current.body if current else None) != expected:  # the index lock makes this one step in-process
            return False
        for new in items:
            guard.storage.set(new)
        return True

    # -- locks (``flights.CrossProcessLock``) ----------------------------------------------------

    @property
    def has_locks(self) -> bool:
        return self._guard.locks is not None

    def acquire_lock(self, name: str, ttl: float) -> tuple[str | None, bool]:
        """(our token, whether another process holds the lock); a resting storage locks nothing.
        A storage that fails now raises ``StorageFault`` (logged): the request leaves it alone."""
        guard = self._guard
        locks = guard.locks
        if locks is None:
            return None, False
        token = guard.attempt(guard.lock_calls, "lock", self.route, locks.acquire_lock, name, ttl)
        if token is Unavailable.FAILED:
            raise StorageFault(f"lock {name}")
        if token is Unavailable.RESTING:
            return None, False
        return token, token is None

    def release_lock(self, name: str, token: str) -> None:
        guard = self._guard
        assert guard.locks is not None
        guard.attempt(guard.lock_calls, "unlock", self.route, guard.locks.release_lock, name, token, even_resting=True)


def _negotiated_only(recipes: tuple[VaryRecipe, ...]) -> bool:
    """Every way a resource varies is content negotiation, never per credentials, and the index
    lists them all: only then may its responses be offered across variants."""
    return 0 < len(recipes) < MAX_RECIPES_PER_RESOURCE and not any(
        recipe.per_credentials or not NEGOTIATION_FIELDS.issuperset(recipe.field_names) for recipe in recipes
    )
