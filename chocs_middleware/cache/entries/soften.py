"""Soft purges (docs/invalidation.md, "Soft purge"): stored responses made stale in place, instead
of removed, so that the next requests get the stale copy within its windows while one refresh
runs, instead of all waiting for the handler at once.

The purge's invalidation marks (set by the caller) still refuse to store what a request in
flight computed before the purge; the responses themselves keep their generation, so the
lookup finds them, stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..error import CacheError
from ..storages.protocol import INDEX_KIND, CacheItem
from .guard import INDEXES, RESPONSES, StorageGuard
from .layout import index_item, item
from .serialisation import encode_response

__all__ = ["BATCH", "soften"]

BATCH = 1000
"""Responses read per call (one round trip on a storage with ``get_many``)."""


def soften(guard: StorageGuard, variant_ids: Sequence[str], now: float, window: int | None) -> int:
    """Make each stored response of ``variant_ids`` stale from ``now`` (``StoredResponse.softened``,
    its stale windows capped at ``window`` seconds when given), in place: written back only while
    it is still the one read (``compare_and_set`` on the response itself, where the storage can),
    so a response stored meanwhile is never replaced by the older one. Returns how many were made
    stale (those already stale are left as they are). A storage fault is raised."""
    softened = 0
    for start in range(0, len(variant_ids), BATCH):
        batch = list(variant_ids[start : start + BATCH])
        found = guard.multi.get_many(batch) if guard.multi is not None else [_get(guard, id_) for id_ in batch]
        for variant, current in zip(batch, found):
            written = _softened(guard, variant, current, now, window)
            if written is None or current is None:
                continue
            if guard.conditional is None:
                guard.storage.set(written)
                softened += 1
            elif guard.conditional.compare_and_set(variant, current.body, [written]):
                softened += 1
    return softened


def _softened(
    guard: StorageGuard, item_id: str, current: CacheItem | None, now: float, window: int | None
) -> CacheItem | None:
    """The item to write in place of ``current`` with its response made stale; ``None`` when
    there is none, or it is stale already. An index's own item holds the response it carries."""
    if item_id.startswith(INDEX_KIND):
        index = guard.decode(item_id, current, INDEXES, "purge")
        if index is None or index.carried is None:
            return None
        variant, stored = index.carried
        stale = stored.softened(now, window)
        return None if stale is stored else index_item(item_id, replace(index, carried=(variant, stale)), now)
    response = guard.decode(item_id, current, RESPONSES, "purge")
    if response is None:
        return None
    softened = response.softened(now, window)
    if softened is response:
        return None
    return item(item_id, encode_response(softened), softened.retained_until, now, softened.needed_until)


def _get(guard: StorageGuard, item_id: str) -> CacheItem | None:
    try:
        return guard.storage.get(item_id)
    except (CacheError, KeyError):
        return None
