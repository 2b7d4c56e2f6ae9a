"""Redis storage: one cache shared by every worker and every instance.

Commands per request, on a route whose vary list the route fixes:

- hit: 1 (``MGET`` of the epoch, the resource's index and the variant), one round trip;
- miss that stores: ``MGET``, ``SET NX`` (the lock), ``TIME`` (before the handler), ``EVALSHA``
  (index and variant, written only while the index is still the one the lookup saw and no purge
  mark is later than that ``TIME``; the response listed in its groups), ``EVALSHA`` (unlock);
- invalidation of a path: ``MGET`` of the index, ``SET`` of the invalidation's marker, one ``DEL``
  per listed variant; of groups, whatever their size: one ``EVALSHA``.

Every key starts with the storage's ``prefix`` (which must end with ``:``). Items live in the
current *epoch*: their keys are ``prefix + epoch + ":" + id``. ``purge_all`` starts a new epoch
(one script, whatever Redis holds): every item of the old one becomes unreachable at once and
expires by its TTL; nothing is scanned, and nothing but the cache's own keys is ever touched.
Each read fetches the epoch with the items (``<prefix>epoch``, the one key without a TTL).

Redis expires entries itself (``SET ... PX``); what a value holds besides the item's body is
``values.py``'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from ...clock import SYSTEM_CLOCK, Clock
from ...common.checks import check_number
from ...error import CacheError, WriteRefused
from ..protocol import CacheItem
from . import scripts
from .clients import (
    bounded,
    check_connection_options,
    check_prefix,
    decodes_responses,
    subscriber_clients,
    topology_for,
)
from .publishing import Subscription, acknowledge, synchronise
from .values import decode, encode

__all__ = ["DEFAULT_TIMEOUT", "INITIAL_EPOCH", "RedisCacheStorage"]

_Storage = TypeVar("_Storage", bound="RedisCacheStorage")

DEFAULT_TIMEOUT = 0.25
"""Seconds any one Redis call may take (connecting included) before it counts as a failure."""
INITIAL_EPOCH = "0"
"""The epoch before the first ``purge_all`` (no epoch key in Redis)."""

_REFUSALS = ("OOM", "READONLY", "MISCONF", "NOREPLICAS", "command not allowed when used memory")
"""Replies with which a server that is up refuses writes (out of memory, replica, failing disk);
redis-py drops the leading error code from some of them."""
_REFUSAL_TYPES = tuple(
    getattr(redis.exceptions, name) for name in ("OutOfMemoryError", "ReadOnlyError") if hasattr(redis.exceptions, name)
)


class RedisCacheStorage:
    """A ``CacheItem`` store in Redis, with ``collect``, ``get_many``, a cross-process lock,
    groups (``IGroupCacheStorage``: sorted sets of members, and invalidation marks) and the
    changes it makes published to every process (``IPublishingCacheStorage``).

    ``client`` is a ``redis.Redis``, or a ``redis.cluster.RedisCluster``. With ``timeout``
    (seconds, default 0.25) the storage talks to the same server(s) over its own connections, on
    which every call gives up after ``timeout`` and is not retried: a Redis that is down or slow
    then costs each request at most that, and the cache is bypassed. ``timeout=None`` uses the
    client exactly as configured. Keys are ``prefix`` + the epoch + ``:`` + the middleware's ids
    (``prefix`` + ``lock:`` + name for locks); ``prefix`` must end with ``:`` and hold no glob or
    hash-tag characters, so that no key of anyone else's starts with it. On a cluster, a path's
    index and its responses share a hash tag (``{...}``, one node), and the group lists, marks and
    the epoch share another: a hit reads both nodes at once.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        prefix: str = "chocs-cache:",
        timeout: float | None = DEFAULT_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(client, (redis.Redis, RedisCluster)):
            raise TypeError(
                f"RedisCacheStorage needs a redis.Redis or redis.cluster.RedisCluster client, got {client!r}"
            )
        if timeout is not None:
            check_number(timeout, "RedisCacheStorage(timeout=...)", unit="seconds", whole=False, minimum=0, above=True)
        if timeout is None and decodes_responses(client):
            raise ValueError("RedisCacheStorage needs a client with decode_responses=False: entries are bytes")
        check_prefix(prefix)
        self._owns_client = timeout is not None
        self._client: Any = client if timeout is None else bounded(client, float(timeout))
        self._topology = topology_for(self._client, prefix)
        self._prefix = prefix
        self._epoch = INITIAL_EPOCH
        """The epoch items are read and written in, as the last read found it (``purge_all``)."""
        self._time = clock.time
        register = self._client.register_script
        self._compare_and_set = register(scripts.COMPARE_AND_SET)
        self._compare_and_set_grouped = register(scripts.COMPARE_AND_SET_GROUPED)
        self._check_and_list = register(scripts.CHECK_AND_LIST)
        self._invalidate_groups = register(scripts.INVALIDATE_GROUPS)
        self._take_groups = register(scripts.TAKE_GROUPS)
        self._new_epoch = register(scripts.NEW_EPOCH)
        self._release = register(scripts.RELEASE_IF_OWNER)

    @classmethod
    def from_url(
        cls: type[_Storage],
        url: str,
        *,
        prefix: str = "chocs-cache:",
        timeout: float | None = DEFAULT_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
        **options: Any,
    ) -> _Storage:
        """A storage on ``redis://host:port/db`` (any URL ``redis.Redis.from_url`` takes); with
        ``cluster=True`` among the options, on the Redis Cluster that node belongs to."""
        cluster = options.pop("cluster", False)
        if not isinstance(cluster, bool):
            raise TypeError(f"RedisCacheStorage.from_url(cluster=...) must be True or False, got {cluster!r}")
        client: Any = RedisCluster.from_url(url, **options) if cluster else redis.Redis.from_url(url, **options)
        if not cluster:
            check_connection_options(client)
        storage = cls(client, prefix=prefix, timeout=timeout, clock=clock)
        if timeout is not None:
            client.close()  # only its settings were needed: the storage has its own connections
        else:
            storage._owns_client = True
        return storage

    def close(self) -> None:
        """Close the connections the storage opened itself (a client passed with ``timeout=None``
        stays its owner's to close)."""
        if self._owns_client:
            self._topology.close()

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """The client the storage's calls go through."""
        client: redis.Redis | RedisCluster = self._client
        return client

    def _key(self, item_id: str, epoch: str | None = None) -> str:
        """The key of an item in ``epoch`` (default: the current one)."""
        return self._topology.key(item_id, self._epoch if epoch is None else epoch)

    def _member(self, item_id: str) -> str:
        """How a group lists an item: with its epoch, so that the key can be found again."""
        return f"{self._epoch}:{item_id}"

    # -- items (ICacheStorage, ICollectableCacheStorage, IMultiGetCacheStorage) ------------------

    def get(self, item_id: str) -> CacheItem:
        item = self._item(item_id, self._read([item_id])[0])
        if item is None:
            raise CacheError.for_not_found(item_id)
        return item

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        return [self._item(item_id, value) for item_id, value in zip(item_ids, self._read(item_ids))]

    def _read(self, item_ids: Sequence[str]) -> list[Any]:
        """The values of ``item_ids`` in the current epoch, read together with the epoch itself (one
        ``MGET``): when another process started a new one, the read is made again in it."""
        topology = self._topology
        for _ in range(2):
            epoch = self._epoch
            values = topology.mget([topology.epoch_key, *(topology.key(item_id, epoch) for item_id in item_ids)])
            current = INITIAL_EPOCH if values[0] is None else values[0].decode(errors="replace")
            if current == epoch:
                return values[1:]
            self._epoch = current
        return [None] * len(item_ids)  # the epoch changed twice meanwhile: nothing is trusted

    def set(self, item: CacheItem) -> None:
        key, topology = self._key(item.id), self._topology
        with _refusals():
            writes = topology.writes()
            if item.ttl <= 0 or not item:
                writes.delete(key)  # an expired tombstone: nothing to keep
            else:
                value, milliseconds = self._value(item)
                writes.set(key, value, px=milliseconds)
            writes.publish(topology.channel, item.id)
            topology.send(writes)

    def collect(self, item: CacheItem) -> None:
        topology = self._topology
        with _refusals():
            writes = topology.writes()
            writes.delete(self._key(item.id))
            writes.publish(topology.channel, item.id)
            topology.send(writes)

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        """One script: the check and every write happen as one step for every client of the server."""
        item_keys, values = self._writes(items)
        keys = [self._key(guard_id), *item_keys]
        arguments = [b"1" if expected is not None else b"0", expected or b"", *values]
        arguments += [self._topology.channel, " ".join(item.id for item in items)]
        with _refusals():
            return bool(self._compare_and_set(keys=keys, args=arguments))

    def _writes(self, items: Sequence[CacheItem]) -> tuple[list[str], list[bytes | int | str]]:
        """The keys of ``items``, and their (value, milliseconds to live) pairs, as a script takes them."""
        keys: list[str] = []
        values: list[bytes | int | str] = []
        for item in items:
            value, milliseconds = self._value(item)
            keys.append(self._key(item.id))
            values += [value, milliseconds]
        return keys, values

    def _value(self, item: CacheItem) -> tuple[bytes, int]:
        return encode(item, self._time())

    def _item(self, item_id: str, value: object) -> CacheItem | None:
        return None if value is None else decode(item_id, value, self._time())

    # -- groups (IGroupCacheStorage) -------------------------------------------------------------

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
        lifetime = max((item.ttl for item in items), default=0)
        topology = self._topology
        if topology.cluster:
            return self._compare_and_set_then_list(guard_id, expected, items, listings, checked, since, lifetime)
        item_keys, values = self._writes(items)
        keys = [self._key(guard_id), *item_keys, *(topology.list_key(group) for group, _ in listings)]
        marks = [*(topology.mark_key(group) for group in checked), topology.everything_key]
        arguments: list[bytes | int | str] = [
            b"1" if expected is not None else b"0",
            expected or b"",
            len(items),
            len(listings),
            len(marks),
            repr(since),
            max(1, lifetime * 1000),
            *values,
            *(self._member(member) for _, member in listings),
            topology.channel,
            " ".join(item.id for item in items),
        ]
        with _refusals():
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
        with _refusals():
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
        """One script for all the groups, whatever their size: one round trip (on a cluster, one
        more per node that holds members)."""
        topology = self._topology
        keys = [key for group in group_ids for key in (topology.list_key(group), topology.mark_key(group))]
        with _refusals():
            if topology.cluster:
                return self._remove_members(self._take_groups(keys=keys, args=[max(1, keep_for * 1000)]))
            arguments: list[str | int] = [max(1, keep_for * 1000), self._prefix, topology.channel]
            return int(self._invalidate_groups(keys=keys, args=arguments))

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
        with _refusals():
            self._new_epoch(
                keys=[topology.epoch_key, topology.everything_key],
                args=[epoch, max(1, keep_for * 1000), topology.channel],
            )
        self._epoch = epoch

    # -- changes (IPublishingCacheStorage) -------------------------------------------------------

    def subscribe(
        self, on_change: Callable[[Sequence[str] | None], None], on_listening: Callable[[bool], None]
    ) -> Subscription:
        """Deliver every change any client makes through a ``RedisCacheStorage`` with this prefix
        (each write publishes the ids it changed on ``<prefix>changes``), on a thread of its own.
        On a cluster it listens on one node, any node that answers (messages reach every node)."""
        prefix, client = self._prefix, self._client
        return Subscription(
            subscriber_clients(client),
            self._topology.channel,
            on_change,
            on_listening,
            lambda token: acknowledge(client, prefix, token),
        )

    def synchronise(self, timeout: float = 1.0) -> tuple[int, int]:
        """Wait until every process listening to this storage's changes has taken in every change
        made before the call (messages arrive in order: each listener acknowledges a marker sent
        after them). Returns (how many were listening, how many did not acknowledge within
        ``timeout`` seconds). A listener that did not (frozen, cut off) stops trusting its copies
        when its lease runs out (``TieredCacheStorage``). Purges call it before they return."""
        with _refusals():
            return synchronise(self._client, self._topology.channel, self._prefix, timeout)

    # -- locks (ILockableCacheStorage) -----------------------------------------------------------

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self._client.set(self._topology.lock_key(name), token, nx=True, px=max(1, int(ttl * 1000)))
        return token if taken else None

    def release_lock(self, name: str, token: str) -> None:
        self._release(keys=[self._topology.lock_key(name)], args=[token])


@contextmanager
def _refusals() -> Iterator[None]:
    """Redis's refusals of a write, as the storage protocol's ``WriteRefused``."""
    try:
        yield
    except redis.exceptions.ResponseError as error:
        if isinstance(error, _REFUSAL_TYPES) or str(error).startswith(_REFUSALS):
            raise WriteRefused(str(error)) from error
        raise
