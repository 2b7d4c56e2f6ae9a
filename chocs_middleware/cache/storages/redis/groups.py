"""The groups half of ``RedisCacheStorage`` (``IGroupCacheStorage``): grouped stores, group
invalidations, purges of everything (a new epoch), and the storage's clock.

Group lists are sorted sets of members scored by the server time until which each is listed; an
invalidation is a mark holding the server time it happened at (``scripts.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from ..protocol import CacheItem
from .clients import Topology, refusals

__all__ = ["DRAIN_BATCH", "RedisGroups"]

DRAIN_BATCH = 1000
"""A group purge removes at most this many listed items per round trip."""


class RedisGroups:
    """``IGroupCacheStorage`` on Redis, for ``RedisCacheStorage`` (which provides what is declared here)."""

    _client: Any
    _topology: Topology
    _prefix: str
    _epoch: str
    _compare_and_set_grouped: Callable[..., Any]
    _check_and_list: Callable[..., Any]
    _mark_groups: Callable[..., Any]
    _take_for_draining: Callable[..., Any]
    _drain_groups: Callable[..., Any]
    _take_groups: Callable[..., Any]
    _new_epoch: Callable[..., Any]

    def _key(self, item_id: str, epoch: str | None = None) -> str:
        raise NotImplementedError

    def _member(self, item_id: str) -> str:
        raise NotImplementedError

    def _writes(self, items: Sequence[CacheItem]) -> tuple[list[str], list[bytes | int | str]]:
        raise NotImplementedError

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        raise NotImplementedError

    def collect(self, item: CacheItem) -> None:
        raise NotImplementedError

    def release_lock(self, name: str, token: str) -> None:
        raise NotImplementedError

    def compare_and_set_grouped(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
    ) -> bool | None:
        """One script: the group checks, the compare, the writes and the listings. On a cluster,
        two: the compare and the writes on the resource's node, then the checks and the listings
        on the groups' node; when a check fails there, the response just written is removed."""
        return self._grouped(guard_id, expected, items, listings, checked, since, None)

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
    ) -> bool | None:
        """``compare_and_set_grouped`` and ``release_lock`` in one script (on a cluster, the lock
        is released after)."""
        if self._topology.cluster:
            try:
                return self.compare_and_set_grouped(guard_id, expected, items, listings, checked, since)
            finally:
                self.release_lock(lock, token)
        return self._grouped(guard_id, expected, items, listings, checked, since, (lock, token))

    def _grouped(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
        lock: tuple[str, str] | None,
    ) -> bool | None:
        lifetime = max((item.ttl for item in items), default=0)
        topology = self._topology
        if topology.cluster:
            return self._compare_and_set_then_list(guard_id, expected, items, listings, checked, since, lifetime)
        item_keys, values = self._writes(items)
        keys = [self._key(guard_id), *item_keys, *(topology.list_key(group) for group, _ in listings)]
        marks = [*(topology.mark_key(group) for group in checked), topology.everything_key]
        if lock is not None:
            marks.append(topology.lock_key(lock[0]))  # the last KEY, after the marks (not one of them)
        arguments: list[bytes | int | str] = [
            b"1" if expected is not None else b"0",
            expected or b"",
            len(items),
            len(listings),
            len(marks) - (lock is not None),
            repr(since),
            max(1, lifetime * 1000),
            "" if lock is None else lock[1],
            *values,
            *(self._member(member) for _, member in listings),
            topology.channel,
            " ".join(item.id for item in items),
        ]
        with refusals():
            written = int(self._compare_and_set_grouped(keys=[*keys, *marks], args=arguments))
        return None if written < 0 else bool(written)

    def _compare_and_set_then_list(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
        lifetime: int,
    ) -> bool | None:
        if not self.compare_and_set(guard_id, expected, items):
            return False
        topology = self._topology
        keys = [topology.list_key(group) for group, _ in listings]
        keys += [*(topology.mark_key(group) for group in checked), topology.everything_key]
        arguments: list[str | int] = [len(listings), repr(since), max(1, lifetime * 1000)]
        arguments += [self._member(member) for _, member in listings]
        with refusals():
            listed = int(self._check_and_list(keys=keys, args=arguments))
        if listed < 0:
            self.collect(items[0])  # invalidated meanwhile: the response goes (its index listing it is harmless)
            return None
        return True

    def storage_time(self) -> float:
        """The Redis server's clock (``TIME``): every process compares invalidations on it (on a
        cluster, the clock of the node that keeps the group marks)."""
        seconds, microseconds = self._topology.time()
        return float(f"{seconds}.{microseconds:06d}")

    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        """Mark the groups and take their lists aside in one script, then remove what they listed
        in batches of ``DRAIN_BATCH`` per round trip: a group of 1,000 responses is 2 round trips,
        one of 10,000 is 11, and Redis is never held for more than one batch (on a cluster, the
        lists are taken in one script, and their items removed with a pipeline per node)."""
        topology, keep_ms = self._topology, max(1, keep_for * 1000)
        with refusals():
            if topology.cluster:
                keys = [key for group in group_ids for key in (topology.list_key(group), topology.mark_key(group))]
                return self._remove_members(self._take_groups(keys=keys, args=[keep_ms]))
            draining = [f"{topology.list_key(group)}:purging" for group in group_ids]
            keys = [
                key
                for group, aside in zip(group_ids, draining)
                for key in (topology.list_key(group), topology.mark_key(group), aside)
            ]
            if not self._take_for_draining(keys=keys, args=[keep_ms]):
                return 0
            removed, left = 0, 1
            while left:
                batch_removed, left = self._drain_groups(
                    keys=draining, args=[self._prefix, topology.channel, DRAIN_BATCH]
                )
                removed += int(batch_removed)
            return removed

    def mark_groups(self, group_ids: Sequence[str], keep_for: int) -> None:
        """Only the invalidation marks of ``invalidate_groups``, with the server's time: one script
        (the marks share a slot on a cluster); the listed items stay (``IMarkingCacheStorage``)."""
        with refusals():
            self._mark_groups(
                keys=[self._topology.mark_key(group) for group in group_ids], args=[max(1, keep_for * 1000)]
            )

    def _remove_members(self, members: Sequence[bytes]) -> int:
        """Remove listed items, each on its own node (a pipeline per node), and publish their ids."""
        listed = [member.decode() if isinstance(member, bytes) else str(member) for member in members]
        if not listed:
            return 0
        keys = [self._key(item_id, epoch) for epoch, _, item_id in (member.partition(":") for member in listed)]
        removed = self._topology.unlink_each(keys)
        ids = [member.partition(":")[2] for member in listed]
        for start in range(0, len(ids), 1000):
            self._client.publish(self._topology.channel, " ".join(ids[start : start + 1000]))
        return removed

    def group_members(self, group_id: str) -> list[str]:
        """The ids listed in the group now, of the current epoch."""
        now_ms = int(self.storage_time() * 1000)
        members = self._client.zrangebyscore(self._topology.list_key(group_id), now_ms, "+inf")
        epoch = f"{self._epoch}:"
        listed = (member.decode() if isinstance(member, bytes) else str(member) for member in members)
        return [member[len(epoch) :] for member in listed if member.startswith(epoch)]

    def remove_all(self, keep_for: int) -> None:
        """Start a new epoch: every item stored so far becomes unreachable at once and expires by its
        TTL, and stores computed before now are refused. One script, whatever Redis holds: nothing
        is scanned or deleted, so nothing but the cache's own keys is touched. It does not count
        what it removed (``None``)."""
        epoch, topology = secrets.token_hex(4), self._topology
        with refusals():
            self._new_epoch(
                keys=[topology.epoch_key, topology.everything_key],
                args=[epoch, max(1, keep_for * 1000), topology.channel],
            )
        self._epoch = epoch
