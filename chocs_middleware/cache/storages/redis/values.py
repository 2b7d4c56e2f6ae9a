"""What the Redis storage keeps under a key: the item's expiry time (8 bytes; negative for a
bookkeeping item), then its body, so that a ``GET`` alone gives back an honest ``CacheItem``."""

from __future__ import annotations

import math
import struct

from ..protocol import CacheItem

__all__ = ["decode", "encode"]

_EXPIRY = struct.Struct("!d")
_NOT_OURS = b"\x00not written by this storage"


def encode(item: CacheItem, now: float) -> tuple[bytes, int]:
    """What Redis keeps for ``item``, and for how many milliseconds."""
    expires_at = now + item.ttl
    return _EXPIRY.pack(-expires_at if item.bookkeeping else expires_at) + item.body, max(1, int(item.ttl * 1000))


def decode(item_id: str, value: object, now: float) -> CacheItem:
    """The item a value holds; one the middleware refuses (and removes) when it was not written so."""
    if not isinstance(value, bytes) or len(value) < _EXPIRY.size:
        return CacheItem(item_id, _NOT_OURS, 1, now=now)
    (expires_at,) = _EXPIRY.unpack_from(value)
    if not math.isfinite(expires_at):
        return CacheItem(item_id, _NOT_OURS, 1, now=now)
    remaining = min(max(0.0, abs(expires_at) - now), 2**31)
    return CacheItem(item_id, value[_EXPIRY.size :], math.ceil(remaining), now=now, bookkeeping=expires_at < 0)
