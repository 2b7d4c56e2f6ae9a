"""Soft purges (docs/invalidation.md, "Soft purge"): stored responses made stale in place, instead
of removed, so that the next requests get the stale copy within its windows while one refresh
runs, instead of all waiting for the handler at once.

The purge's invalidation marks (set by the caller) still refuse to store what a request in
flight computed before the purge; the responses themselves keep their generation, so the
lookup finds them, stale.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..error import CacheError
from ..storages.protocol import CacheItem
from .guard import RESPONSES, StorageGuard, item
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
            stored = guard.decode(variant, current, RESPONSES, "purge")
            if stored is None or current is None:
                continue
            stale = stored.softened(now, window)
            if stale is stored:
                continue
            written = item(variant, encode_response(stale), stale.retained_until, now, stale.needed_until)
            if guard.conditional is None:
                guard.storage.set(written)
                softened += 1
            elif guard.conditional.compare_and_set(variant, current.body, [written]):
                softened += 1
    return softened


def _get(guard: StorageGuard, item_id: str) -> CacheItem | None:
    try:
        return guard.storage.get(item_id)
    except (CacheError, KeyError):
        return None
