"""How the cache's entries are laid out in storage items (``docs/design.md``, "Storage model"):
a response apart under its variant's id; an index under its path's id, which carries the
response of its one variant, so that a path with one variant is one item."""

from __future__ import annotations

import math
from dataclasses import replace

from ..decisions.values import ResourceIndex, StoredResponse, VaryRecipe
from ..storages.protocol import CacheItem
from .serialisation import encode_index, encode_response

__all__ = ["MAX_CARRIED_SIZE", "index_item", "item", "items_to_write"]

MAX_CARRIED_SIZE = 6 * 1024
"""An index that carries a response is at most this many bytes (as stored): within what the
decoder memoises (``guard.INDEXES``), so a hit decodes it once."""


_SECONDS: dict[int, int] = {}
"""Whole numbers of seconds, one int object each: an item keeps two (its ttl and how long it is
needed), a route's items mostly the same two, and an int above 256 takes 32 bytes apiece."""


def _seconds(value: float, least: int) -> int:
    seconds = max(least, math.ceil(value))
    return _SECONDS.setdefault(seconds, seconds) if len(_SECONDS) < 4096 else seconds


_last_second: tuple[int, int] = (0, 0)
"""The last whole second an item was made in (the second, and the int object for it)."""


def _made_at(now: float) -> int:
    """When an item was made, in whole seconds: the middleware reads it nowhere (the 1.0
    ``created_at`` and ``updated_at`` show it), and the items made in one second share one int
    instead of a float apiece."""
    global _last_second
    second = int(now)
    last = _last_second  # one tuple, read and replaced whole
    if last[0] == second:
        return last[1]
    _last_second = (second, second)
    return second


def item(item_id: str, blob: bytes, expires_at: float, now: float, needed_until: float | None = None) -> CacheItem:
    """A stored response (``needed_until`` given) or an index (bookkeeping) as the storage keeps it."""
    ttl = _seconds(expires_at - now, 1)
    made_at = _made_at(now)
    if needed_until is None:
        return CacheItem(item_id, blob, ttl, now=made_at, bookkeeping=True)
    return CacheItem(item_id, blob, ttl, now=made_at, needed_for=_seconds(needed_until - now, 0))


def index_item(resource: str, index: ResourceIndex, now: float, blob: bytes | None = None) -> CacheItem:
    """An index as the storage keeps it (``blob``: encoded, when the caller has it): bookkeeping,
    unless it carries a response. Then it is a stored response, needed as long as that one is
    while it is the only variant listed, else for its whole ttl (the others are found through it)."""
    blob = encode_index(index) if blob is None else blob
    carried = index.carried
    if carried is None:
        return item(resource, blob, index.expires_at, now)
    needed_until = carried[1].needed_until if len(index.variants) == 1 else index.expires_at
    return item(resource, blob, index.expires_at, now, needed_until)


def items_to_write(
    resource: str,
    index: ResourceIndex,
    recipe: VaryRecipe,
    variant: str,
    stored: StoredResponse,
    now: float,
    may_carry: bool,
) -> tuple[CacheItem, ...]:
    """What storing ``stored`` as ``variant`` writes: the index carrying it (one item), when the
    index carries that variant or has no other live one, and it is small (``MAX_CARRIED_SIZE``);
    else the response apart, first, and the index (still carrying the response it carried, if
    another variant's and still listed).

    Only a response in no cache group (``may_carry``) is carried: a group lists the item that
    holds it, and a purge of the group would remove the index with it, invalidated or not."""
    if may_carry and len(stored.body) < MAX_CARRIED_SIZE and index.carries(variant, now):
        carrying = index.with_variant(recipe, variant, stored.retained_until, now, (variant, stored))
        encoded = encode_index(carrying)
        if len(encoded) <= MAX_CARRIED_SIZE:
            return (index_item(resource, carrying, now, encoded),)
    written = [item(variant, encode_response(stored), stored.retained_until, now, stored.needed_until)]
    updated = index.with_variant(recipe, variant, stored.retained_until, now, index.carried)
    kept = index.carried
    if kept is not None and (kept[0] == variant or kept[1].retained_until <= now):
        updated = replace(updated, carried=None)  # replaced by the response stored apart, or no longer kept
    elif kept is not None and all(listed != kept[0] for listed, _ in updated.variants):
        # Pushed off the index's list by newer variants: stored apart, as is every one beyond it.
        written.append(item(kept[0], encode_response(kept[1]), kept[1].retained_until, now, kept[1].needed_until))
        updated = replace(updated, carried=None)
    written.append(index_item(resource, updated, now))
    return tuple(written)
