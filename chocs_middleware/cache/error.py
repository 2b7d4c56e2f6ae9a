"""The storage protocol's exceptions."""

from __future__ import annotations

__all__ = ["CacheError", "NotAcknowledged", "StorageFault", "WriteRefused"]


class CacheError(Exception):
    """Raised by a storage's ``get`` when it holds no item under the asked id (the documented miss)."""

    @staticmethod
    def for_not_found(item_id: str) -> CacheError:
        return CacheError(f"Could not retrieve cache item with given id `{item_id}`")


class StorageFault(Exception):
    """A storage could not do what it was asked (unlike ``CacheError``, which is a plain miss).

    A storage may raise any exception for a fault; these subclasses let it say more.
    """


class WriteRefused(StorageFault):
    """The storage answers, but refuses writes for now (out of memory, a read-only replica):
    the cache stops writing for a while and goes on reading."""


class NotAcknowledged(StorageFault):
    """A purge was done in the storage, but not every process with an in-process tier said, in
    time, that it dropped its copies (it may be frozen or cut off: it stops trusting its copies
    when its lease runs out, ``TieredCacheStorage``)."""

    def __init__(self, removed: int | None, listening: int, missing: int) -> None:
        super().__init__(
            f"purge done in storage, but {missing} of {listening} processes listening for changes did not "
            f"acknowledge it in time; each stops serving its own copies within its lease"
        )
        self.removed = removed
        """What the purge returns when every process acknowledged it."""
        self.listening = listening
        self.missing = missing
