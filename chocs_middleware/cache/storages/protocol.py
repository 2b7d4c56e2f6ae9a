"""The storage contract: ``CacheItem`` and the protocols a storage implements.

A storage only moves opaque ``CacheItem`` objects; everything HTTP lives in the middleware.
The protocols are runtime-checkable so that a user class that merely has the methods
qualifies (as in chocs-middleware.cache 1.0).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "GROUP_KIND",
    "INDEX_KIND",
    "RESPONSE_KIND",
    "CacheItem",
    "ICacheStorage",
    "ICollectableCacheStorage",
    "ICompareAndSetCacheStorage",
    "IGroupCacheStorage",
    "ILockableCacheStorage",
    "ILookupCacheStorage",
    "IMarkingCacheStorage",
    "IMultiGetCacheStorage",
    "IPublishingCacheStorage",
    "LookedUp",
    "Subscription",
    "locality",
]


INDEX_KIND = "r"
"""The first character of the id of a resource's index (see ``locality``)."""
RESPONSE_KIND = "v"
"""The first character of the id of a stored response."""
GROUP_KIND = "g"
"""The first character of the id of a group."""
LOCALITY_LENGTH = 6


def locality(item_id: str) -> str | None:
    """What the ids that must be kept together share, or ``None``: a resource's index and its
    stored responses carry the resource's locality in the six characters after their kind. A
    storage spread over nodes keeps ids of one locality on one node (Redis Cluster hash tags), so
    that what is read or written together is one round trip. Ids are made by the middleware
    (``entries/ids.py``); this is the one place a storage reads anything in them."""
    if len(item_id) > LOCALITY_LENGTH + 1 and item_id[0] in (INDEX_KIND, RESPONSE_KIND):
        return item_id[1 : LOCALITY_LENGTH + 1]
    return None


def _naive_utc(timestamp: float) -> datetime:
    # 1.0 exposed naive UTC datetimes (from datetime.utcnow); keep that shape for existing callers.
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)


class CacheItem:
    """An opaque blob under an id, kept for ``ttl`` seconds after it was last written.

    Timestamps are kept as epoch seconds (cheap to compare on every request) and shown as
    naive UTC datetimes through the 1.0 properties. ``body`` is a plain attribute, because every
    hit reads it; setting it refreshes ``updated_at``, as in 1.0.
    """

    __slots__ = ("_id", "_times", "body", "bookkeeping", "needed_for", "ttl")
    _id: str
    _times: float | tuple[float, float]
    """When it was made; once its body was set again, (when it was made, when it was updated):
    one slot for the two, which are one time for nearly every item (a slot less per item kept)."""
    body: bytes
    bookkeeping: bool
    needed_for: int | None
    ttl: int

    def __init__(
        self,
        item_id: str,
        body: bytes,
        ttl: int = 30,
        *,
        now: float | None = None,
        needed_for: int | None = None,
        bookkeeping: bool = False,
    ) -> None:
        """``now``: when the item was made, in epoch seconds (default: ``time.time()``).
        ``needed_for``: seconds it is needed for sure; after that, until its ``ttl``, it is only
        kept in case (a stale response kept to be revalidated), and a storage that must make room
        may drop it before the others. ``None``: needed for its whole ``ttl``.
        ``bookkeeping``: it is not a stored response but what finds them (an index): a storage
        bounded by a number of responses does not count it as one."""
        if now is None:
            now = time.time()
        initialise = object.__setattr__  # not through __setattr__ below: no clock read per field
        initialise(self, "needed_for", needed_for)
        initialise(self, "bookkeeping", bookkeeping)
        initialise(self, "_id", item_id)
        initialise(self, "body", body)
        initialise(self, "ttl", ttl)
        initialise(self, "_times", now)

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name == "body":
            object.__setattr__(self, "_times", (self._created_at, time.time()))

    @property
    def _created_at(self) -> float:
        times = self._times
        return times[0] if isinstance(times, tuple) else times

    @property
    def _updated_at(self) -> float:
        times = self._times
        return times[1] if isinstance(times, tuple) else times

    @property
    def id(self) -> str:
        return self._id

    @property
    def created_at(self) -> datetime:
        return _naive_utc(self._created_at)

    @property
    def updated_at(self) -> datetime:
        return _naive_utc(self._updated_at)

    @property
    def expires_at(self) -> datetime:
        return _naive_utc(self.expires_at_timestamp)

    @property
    def expires_at_timestamp(self) -> float:
        """When the item expires, in epoch seconds."""
        return self._updated_at + self.ttl

    @property
    def is_expired(self) -> bool:
        return self._updated_at + self.ttl < time.time()

    def __bool__(self) -> bool:
        return self.body != b""

    def __repr__(self) -> str:
        return f"CacheItem({self._id!r}, <{len(self.body)} bytes>, ttl={self.ttl})"

    @classmethod
    def empty(cls, item_id: str) -> CacheItem:
        """A falsy, already-expired item: what a removed entry looks like (a tombstone)."""
        return cls(item_id, b"", 0)


@runtime_checkable
class ICacheStorage(Protocol):
    """``get`` returns the item or raises on a miss (``CacheError`` is the documented exception)."""

    @abstractmethod
    def get(self, item_id: str) -> CacheItem: ...

    @abstractmethod
    def set(self, item: CacheItem) -> None: ...


@runtime_checkable
class ICollectableCacheStorage(ICacheStorage, Protocol):
    """A storage that can remove an item (used for invalidation; without it a tombstone is written)."""

    @abstractmethod
    def collect(self, item: CacheItem) -> None: ...


@runtime_checkable
class IMultiGetCacheStorage(Protocol):
    """Optional capability: fetch several items in one call (one round trip on a network storage).

    ``get_many`` returns one entry per id, in order: the item, or ``None`` for a miss. A cache hit
    reads a resource's index and one of its variants; with this the two cost one call.
    """

    @abstractmethod
    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]: ...


@runtime_checkable
class ILockableCacheStorage(Protocol):
    """Optional capability: a lock shared by every process that uses the storage.

    With it, a stampede on a cold key runs the handler once across processes, not once per
    process. ``acquire_lock`` returns a token when the caller took the lock (it expires by
    itself after ``ttl`` seconds, so an owner that dies blocks no one for longer) and ``None``
    when someone else holds it. ``release_lock`` releases it only while ``token`` still owns it.
    """

    @abstractmethod
    def acquire_lock(self, name: str, ttl: float) -> str | None: ...

    @abstractmethod
    def release_lock(self, name: str, token: str) -> None: ...


class LookedUp(NamedTuple):
    """What ``ILookupCacheStorage.look_up`` found, and the lock it asked for."""

    items: list[CacheItem | None]
    """As ``get_many`` returns them."""
    token: str | None = None
    """The lock's token, when the look-up took it."""
    locked_elsewhere: bool = False
    """The lock was asked for, and someone else holds it."""
    storage_time: float | None = None
    """``storage_time`` when the look-up asked for the lock (``None``: it did not)."""


@runtime_checkable
class ILookupCacheStorage(Protocol):
    """Optional capability, of a storage with the lock and groups: a miss that stores in two steps.

    ``look_up`` is ``get_many`` that, when it finds no item under the last id, also asks for the
    lock ``lock`` (as ``acquire_lock(lock, ttl)``) and reads ``storage_time``, in the same step.
    ``store_and_release`` is ``compare_and_set_grouped`` that also releases ``lock`` while
    ``token`` owns it, in the same step, whether it writes or not. On a network storage each is
    one round trip: the look-up, then the store (``RedisCacheStorage``).
    """

    @abstractmethod
    def look_up(self, item_ids: Sequence[str], lock: str, ttl: float) -> LookedUp: ...

    @abstractmethod
    def store_and_release(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
        lock: str,
        token: str,
    ) -> bool | None: ...


@runtime_checkable
class ICompareAndSetCacheStorage(Protocol):
    """Optional capability: write items only if another item still holds what the caller read.

    ``compare_and_set`` writes all of ``items`` and returns True when the item under ``guard_id``
    holds the body ``expected`` (``None``: no item there, or an empty or expired one); otherwise it
    writes nothing and returns False. Check and writes happen as one step for every process using
    the storage. The middleware stores a response this way, so that a response computed before an
    invalidation is never stored after it, even by another process.
    """

    @abstractmethod
    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool: ...


@runtime_checkable
class IMarkingCacheStorage(Protocol):
    """Optional, beside ``IGroupCacheStorage``: record that groups were invalidated now, as
    ``invalidate_groups`` does, and leave their listed items where they are. Soft purges use it:
    the items are made stale in place, and a store computed before now is still refused."""

    @abstractmethod
    def mark_groups(self, group_ids: Sequence[str], keep_for: int) -> None: ...


@runtime_checkable
class IGroupCacheStorage(Protocol):
    """Optional capability: the storage lists the members of groups and invalidates whole groups.

    The middleware uses it for cache groups (RFC 9875, route keywords), for purges on every host
    and for ``purge_all`` (docs/invalidation.md). A group has an id, a list of members (each
    listed until a time) and the time it was last invalidated, kept for a while. Times are the
    storage's own (``storage_time``), so that every process compares them on one clock. Each
    method is one step for every process using the storage. Members are item ids, except in the
    group of hosts, whose members are host names.
    """

    @abstractmethod
    def storage_time(self) -> float:
        """The storage's clock (seconds, never going back), which invalidations are recorded with.
        The middleware reads it before it asks the handler, and passes it as ``since``."""

    @abstractmethod
    def compare_and_set_grouped(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
    ) -> bool | None:
        """``compare_and_set``, with two more conditions, as one step.

        Returns ``None`` and writes nothing when a group of ``checked`` was invalidated at or after
        ``since`` (a ``storage_time``), or everything was removed (``remove_all``) since then.
        Otherwise returns ``compare_and_set``'s answer; when it writes the items, it also lists each
        (group id, member) of ``listings``, for as long as the longest-lived of ``items`` lives.
        """

    @abstractmethod
    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        """Record that each group was invalidated now (kept for ``keep_for`` seconds), and remove
        every item listed in them, and the lists. Returns how many listed items were removed."""

    @abstractmethod
    def group_members(self, group_id: str) -> list[str]:
        """The members listed in the group now."""

    @abstractmethod
    def remove_all(self, keep_for: int) -> int | None:
        """Make every item and every group's list unreachable, and record that everything was
        removed now (kept for ``keep_for`` seconds, like a group's invalidation). It must only ever
        touch what the storage itself wrote. Returns how many stored responses (items that are not
        ``bookkeeping``) were removed, or ``None`` when the storage does not count them (Redis
        starts a new epoch instead of visiting what it holds)."""


class Subscription(Protocol):
    """A delivery of changes, until ``close``."""

    @property
    def heard_at(self) -> float:
        """When (monotonic seconds) the subscription was last shown to have delivered every change
        made before then (a heartbeat's sending time; ``-inf`` before the first). A tier trusts its
        copies only for a short lease after it, so that a process that was frozen or cut off serves
        nothing from them until it has caught up."""

    def close(self) -> None: ...


@runtime_checkable
class IPublishingCacheStorage(Protocol):
    """Optional capability: the storage tells every process what any process changed in it.

    ``TieredCacheStorage`` keeps a copy of what it reads in the process, and drops each copy when
    this says the item changed (docs/storages.md, "Tiered").
    """

    @abstractmethod
    def subscribe(
        self, on_change: Callable[[Sequence[str] | None], None], on_listening: Callable[[bool], None]
    ) -> Subscription:
        """Call ``on_change(ids)`` for every change any process makes to items (set, removed,
        written by a script), in order; ``on_change(None)`` when any item may have changed.
        Call ``on_listening(True)`` once changes are delivered (again), and ``on_listening(False)``
        as soon as they may not be (the connection was lost): changes in between are missed."""
