"""The cache's storage model on any ``ICacheStorage``, for reading and storing (``docs/design.md``,
"Storage model"): a resource has an index entry and one entry per stored response (variant).

``EntryStore`` is a route's view of the guarded storage (it names the route in its logs): it
finds the response a request may be given, or says what it found instead (``Missed``), and
stores a response only while nothing invalidated what its request saw (``Stored`` or
``NotStored``). Invalidation is ``invalidation.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..decisions.credentials import Lookup
from ..decisions.values import ResourceIndex, StoredResponse, VaryRecipe, new_generation
from ..error import StorageFault
from ..storages.protocol import CacheItem
from .choosing import stored_for_others, usable
from .guard import INDEXES, RESPONSES, StorageGuard, Unavailable
from .ids import HOSTS, ancestors, group_id, path_group_id, prefix_group, template_group
from .layout import items_to_write
from .outcomes import UNAVAILABLE, URI_MISS, Claimed, HeldLock, Missed, NotStored, Refusal, Seen, Stored, Target

__all__ = ["EntryStore"]

SAVE_ATTEMPTS = 3
MAX_GROUPS = 64
MAX_GROUP_LENGTH = 256
"""A stored response may be in up to 64 groups of up to 256 characters (RFC 9875 asks for 32 of 32)."""
NOT_ASKED = CacheItem("", b"", 0, now=0)
"""A lookup's variant item when only the index was read."""


class EntryStore:
    """One route's entries: found and stored on the guarded storage."""

    def __init__(self, guard: StorageGuard, route: str, purge_patterns: bool = False) -> None:
        self._guard = guard
        self._now = guard.clock.time
        self.route = route
        self._template = template_group(route) if purge_patterns else None
        """``purge_patterns``: its responses are listed under the route's template and their
        paths' ancestors too, for ``purge("/users/{user_id}")`` and ``purge_prefix``."""
        self.carrying = True
        """The route's last response found or stored was in its index's own item
        (``ResourceIndex.carried``): a lookup reads the index alone (and a variant stored apart
        after it, if need be); else the index and the variant, in one call."""

    def find(
        self,
        target: Target,
        lookup: Lookup,
        now: float,
        lock_ttl: float | None = None,
        learn: Callable[[VaryRecipe], None] | None = None,
    ) -> StoredResponse | Missed:
        """The stored response for the request's variant, or what the lookup found instead.

        ``lookup.recipe``, the route's likeliest recipe, gives the variant fetched with the index in
        one call where the storage has ``get_many``; one stored under another recipe of the index
        costs one more read. Only responses ``lookup`` may serve are found (the credentials rule),
        and only while retained at ``now`` (a storage may return items past their ``ttl``).

        With ``lock_ttl``, on a storage that looks up and locks in one step
        (``ILookupCacheStorage``), a lookup that finds the variant missing also asks for the lock
        named by the variant's id: the ``Missed`` carries it (``claim``), the caller's to use or
        release. ``learn`` is told the recipe a response was found under, when not ``lookup``'s.
        """
        guard = self._guard
        expected_variant = target.variant(lookup.recipe)
        reads, claim = guard.reads, None
        if reads.open_until and not reads.allows():
            return UNAVAILABLE
        ids = (target.resource,) if self.carrying else (target.resource, expected_variant)
        try:  # guard.attempt, written out: every hit comes this way
            if lock_ttl is not None and guard.lookups is not None:
                looked = guard.lookups.look_up(ids, expected_variant, lock_ttl)
                items = looked.items
                if looked.storage_time is not None:
                    claim = Claimed(looked.token, looked.locked_elsewhere, looked.storage_time)
            elif guard.multi is not None:
                items = guard.multi.get_many(ids)
            else:
                items = [guard.get(item_id) for item_id in ids]
        except Exception as error:
            guard.fault(reads, "get", error, self.route)
            return UNAVAILABLE
        if reads.failures:
            reads.succeeded()
        variant_item = items[1] if len(items) > 1 else NOT_ASKED
        found = self._found(target, lookup, now, expected_variant, items[0], variant_item, learn)
        if claim is None:
            return found
        if found.__class__ is Missed:
            return found._replace(claim=claim)
        if claim.token is not None:  # found under another recipe: the lock is not this request's to keep
            self.release_lock(expected_variant, claim.token)
        return found

    def _found(
        self,
        target: Target,
        lookup: Lookup,
        now: float,
        expected_variant: str,
        index_item: CacheItem | None,
        variant_item: CacheItem | None,
        learn: Callable[[VaryRecipe], None] | None = None,
    ) -> StoredResponse | Missed:
        """What a lookup's two items hold for this request."""
        guard = self._guard
        # The decoder's memos first, written out (a hit finds both entries there); else the decoder.
        blob = index_item.body if isinstance(index_item, CacheItem) else None
        index = INDEXES.get(blob) if blob.__class__ is bytes else None
        if index is None:
            index = guard.decode(target.resource, index_item, INDEXES, self.route)
        if index is None or index_item is None or index.expires_at <= now:
            return URI_MISS
        carried = index.carried  # ``carried_response``, written out: every hit comes this way
        if carried is not None and carried[0] == expected_variant:  # a path with one variant: one item
            stored: StoredResponse | None = carried[1]
            if not self.carrying:
                self.carrying = True
        else:
            if variant_item is NOT_ASKED:
                variant_item = self._apart(index, expected_variant)
            blob = variant_item.body if isinstance(variant_item, CacheItem) else None
            stored = RESPONSES.get(blob) if blob.__class__ is bytes else None
            if stored is None:
                stored = guard.decode(expected_variant, variant_item, RESPONSES, self.route)
        if not usable(stored, index, lookup.recipe, lookup, now):
            stored = self._stored_under_another_recipe(target, index, lookup, now, learn)
        if stored is None:
            # vary-miss: a response of this URI is listed, stored for other request headers (not
            # one that would be this request's under a recipe of the index, since gone).
            prefix = target.uri_prefix
            own = {expected_variant, *(target.variant(recipe) for recipe in index.recipes)}
            others = any(variant.startswith(prefix) and variant not in own for variant, _ in index.variants)
            return Missed("vary-miss" if others else "uri-miss", index, index_blob=index_item.body)
        pending = guard.pending
        if pending.active and pending.hides(target.resource, stored.stored_at):
            return Missed("uri-miss", index, index_blob=index_item.body)  # the retrier lands its invalidation
        return stored

    def _apart(self, index: ResourceIndex, variant: str) -> CacheItem | None:
        """The item of ``variant`` stored apart, read after its index (which did not carry it);
        none is read where the index lists no variant but the one it carries. The route looks
        the variant up with its index again from now on."""
        carried = index.carried_variant
        if all(listed == carried for listed, _ in index.variants):
            return None
        self.carrying = False
        guard = self._guard
        found = guard.attempt(guard.reads, "get", self.route, guard.get, variant)
        return None if isinstance(found, Unavailable) else found

    def _stored_under_another_recipe(
        self,
        target: Target,
        index: ResourceIndex,
        lookup: Lookup,
        now: float,
        learn: Callable[[VaryRecipe], None] | None,
    ) -> StoredResponse | None:
        for recipe in reversed(index.recipes):  # the newest way of varying first
            if recipe != lookup.recipe:
                variant = target.variant(recipe)
                other = index.carried_response(variant)
                if other is None:
                    other = self._guard.read(variant, RESPONSES, self.route)
                if usable(other, index, recipe, lookup, now):
                    if learn is not None:
                        learn(recipe)
                    return other
        return None

    def stored_for_others(
        self, target: Target, missed: Missed, lookup: Lookup, now: float
    ) -> tuple[StoredResponse, ...]:
        """After a ``vary-miss``: the responses of this URI stored for other request headers that
        the handler may confirm for this request too (``choosing.stored_for_others``)."""
        return stored_for_others(self._guard, self.route, target, missed, lookup, now)

    def save(
        self,
        target: Target,
        recipe: VaryRecipe,
        response: StoredResponse,
        seen: Seen,
        groups: tuple[str, ...],
        since: float,
        lock: HeldLock | None = None,
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
        ``lock``, the lock across processes the caller holds, is released by that write where the
        storage can (``ILookupCacheStorage.store_and_release``), and marked released.
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
                outcome = self._save_against(target, recipe, response, seen, groups, since, current, lock)
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
        lock: HeldLock | None,
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
            index = ResourceIndex(new_generation())
        elif not index.accepts(seen.generation):
            return NotStored(Refusal.SUPERSEDED)
        variant = target.variant(recipe)
        stored = response.stamped(index.generation)
        may_carry = not groups and self._template is None
        items = items_to_write(target.resource, index, recipe, variant, stored, now, may_carry)
        carrying = len(items) == 1
        if self.carrying is not carrying:  # the next lookup reads what this store wrote
            self.carrying = carrying
        guard = self._guard
        written = guard.attempt(
            guard.writes, "set", self.route, self._compare_and_set, target, blob, items, groups, since, lock
        )
        if written is Unavailable.FAILED or written is Unavailable.RESTING:
            return NotStored(Refusal.STORAGE_UNAVAILABLE)
        if written is None:
            return NotStored(Refusal.SUPERSEDED)
        return Stored(stored) if written else None

    def _compare_and_set(
        self,
        target: Target,
        expected: bytes | None,
        items: Sequence[CacheItem],
        groups: tuple[str, ...],
        since: float,
        lock: HeldLock | None,
    ) -> bool | None:
        """Write ``items`` if the index still holds ``expected`` (``False`` if not), unless an
        invalidation of the response's groups, of its path on every host or of everything came
        since ``since`` (``None``)."""
        host, guard = target.host, self._guard
        groups = (*groups, *self._pattern_groups(target.canonical_path))
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
            if lock is not None and not lock.released and guard.lookups is not None:
                written = guard.lookups.store_and_release(
                    target.resource, expected, items, listings, checked, since, lock.name, lock.token
                )
                lock.released = True
                return written
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

    def _pattern_groups(self, path: str) -> tuple[str, ...]:
        """The route's template group and the path's prefix groups, with ``purge_patterns``."""
        if self._template is None:
            return ()
        return (self._template, *(prefix_group(prefix) for prefix in ancestors(path)))

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
