"""Redis storage: one cache shared by every worker and every instance.

Commands per request, on a route whose vary list the route fixes:

- hit: 1 (``MGET`` of the epoch, the resource's index and the variant, in the look-up's script),
  one round trip;
- miss that stores: 2, ``EVALSHA`` (the look-up: ``MGET``, and when the variant is missing, the
  lock's ``SET NX`` and ``TIME``, read before the handler) and ``EVALSHA`` (the lock released, and
  index and variant written only while the index is still the one the look-up saw and no purge
  mark is later than that ``TIME``; the response listed in its groups) (``look_up``,
  ``store_and_release``); on a cluster 5, as without them: ``MGET``, ``SET NX``, ``TIME``, the
  store, the unlock;
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
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from ...clock import SYSTEM_CLOCK, Clock
from ...common.checks import check_number
from ...error import CacheError
from ..protocol import CacheItem, LookedUp
from . import scripts
from .clients import (
    bounded,
    check_connection_options,
    check_prefix,
    decodes_responses,
    refusals,
    subscriber_clients,
    topology_for,
)
from .groups import RedisGroups
from .publishing import Subscription, acknowledge, synchronise
from .values import decode, encode

__all__ = ["DEFAULT_TIMEOUT", "INITIAL_EPOCH", "RedisCacheStorage"]

_Storage = TypeVar("_Storage", bound="RedisCacheStorage")

DEFAULT_TIMEOUT = 0.25
"""Seconds any one Redis call may take (connecting included) before it counts as a failure."""
INITIAL_EPOCH = "0"
"""The epoch before the first ``purge_all`` (no epoch key in Redis)."""


class RedisCacheStorage(RedisGroups):
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
        self._mark_groups = register(scripts.MARK_GROUPS)
        self._take_for_draining = register(scripts.TAKE_GROUPS_FOR_DRAINING)
        self._drain_groups = register(scripts.DRAIN_GROUPS)
        self._take_groups = register(scripts.TAKE_GROUPS)
        self._new_epoch = register(scripts.NEW_EPOCH)
        self._release = register(scripts.RELEASE_IF_OWNER)
        self._look_up = register(scripts.LOOK_UP)

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
        with refusals():
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
        with refusals():
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
        with refusals():
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
        with refusals():
            return synchronise(self._client, self._topology.channel, self._prefix, timeout)

    # -- locks (ILockableCacheStorage) -----------------------------------------------------------

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self._client.set(self._topology.lock_key(name), token, nx=True, px=max(1, int(ttl * 1000)))
        return token if taken else None

    def release_lock(self, name: str, token: str) -> None:
        self._release(keys=[self._topology.lock_key(name)], args=[token])

    # -- a miss in two round trips (ILookupCacheStorage) -----------------------------------------

    def look_up(self, item_ids: Sequence[str], lock: str, ttl: float) -> LookedUp:
        """``get_many``; when the last item is missing, the lock and the server's time too: one
        script, one round trip (on a cluster, whose epoch lives on another node: one each)."""
        topology = self._topology
        if topology.cluster:
            items = self.get_many(item_ids)
            if items[-1] is not None:
                return LookedUp(items)
            token = self.acquire_lock(lock, ttl)
            return LookedUp(items, token, token is None, self.storage_time())
        token, epoch = secrets.token_hex(16), self._epoch
        keys = [topology.epoch_key, *(topology.key(item_id, epoch) for item_id in item_ids), topology.lock_key(lock)]
        reply = self._look_up(keys=keys, args=[token, max(1, int(ttl * 1000))])
        values, taken, seconds, microseconds = reply[:-3], int(reply[-3]), int(reply[-2]), int(reply[-1])
        current = INITIAL_EPOCH if values[0] is None else values[0].decode(errors="replace")
        if current != epoch:  # another process started a new epoch: read again in it
            self._epoch = current
            values = [None, *self._read(item_ids)]
        items = [self._item(item_id, value) for item_id, value in zip(item_ids, values[1:])]
        if taken in (0, 3):  # not asked, or refused (a full server): the flow asks for it itself
            return LookedUp(items)
        return LookedUp(items, token if taken == 1 else None, taken == 2, float(f"{seconds}.{microseconds:06d}"))
