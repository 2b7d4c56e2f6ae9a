"""The one exception type of the storage protocol."""

from __future__ import annotations

__all__ = ["CacheError"]


class CacheError(Exception):
    """Raised by a storage's ``get`` when it holds no item under the asked id (the documented miss)."""

    @staticmethod
    def for_not_found(item_id: str) -> CacheError:
        return CacheError(f"Could not retrieve cache item with given id `{item_id}`")
