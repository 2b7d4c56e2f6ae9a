"""Redis storage: one cache shared by every worker and every instance.

Needs the ``redis`` extra: ``pip install "chocs-middleware.cache[redis]"``.

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

Redis expires entries itself (``SET ... PX``). Each value starts with its expiry time (8 bytes,
negative for a bookkeeping item), so that a ``GET`` alone gives back an honest ``CacheItem``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.cluster import RedisCluster
    from redis.retry import Retry
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'RedisCacheStorage needs the redis package: pip install "chocs-middleware.cache[redis]"'
    ) from error

from .cache_storage import CacheItem, Subscription
from .checks import check_number
from .clock import SYSTEM_CLOCK, Clock
from .error import CacheError, WriteRefused
from .keys import slot_tag

__all__ = ["DEFAULT_TIMEOUT", "EVERYTHING_CHANGED", "RedisCacheStorage"]

_Storage = TypeVar("_Storage", bound="RedisCacheStorage")
EVERYTHING_CHANGED = "*"
"""Published when every item may have changed (``remove_all``)."""
SYNCHRONISE = "#"
"""Starts a marker message: each listener acknowledges it once it has taken in what came before."""
_log = logging.getLogger("chocs_middleware.cache")

HEARTBEAT_SECONDS = 0.1
"""How often a subscription pings Redis to show that it still hears every change."""
DEFAULT_TIMEOUT = 0.25
"""Seconds any one Redis call may take (connecting included) before it counts as a failure."""

_EXPIRY = struct.Struct("!d")
INITIAL_EPOCH = "0"
"""The epoch before the first ``purge_all`` (no epoch key in Redis)."""
_REFUSALS = ("OOM", "READONLY", "MISCONF", "NOREPLICAS", "command not allowed when used memory")
"""Replies with which a server that is up refuses writes (out of memory, replica, failing disk);
redis-py drops the leading error code from some of them."""
_REFUSAL_TYPES = tuple(
    getattr(redis.exceptions, name) for name in ("OutOfMemoryError", "ReadOnlyError") if hasattr(redis.exceptions, name)
)
# Write the items only while the guard (KEYS[1]) holds the expected body (after its 8-byte expiry);
# ARGV[1] is "1" when a body is expected at all. Items follow as KEYS[2..] with value and
# milliseconds in ARGV[3..]; the last two ARGV are the channel of changes and the ids to publish.
_COMPARE_AND_SET = """
local current = redis.call('get', KEYS[1])
if ARGV[1] == '1' then
    if not current or string.sub(current, 9) ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
for i = 2, #KEYS do
    redis.call('set', KEYS[i], ARGV[2 * i - 1], 'px', ARGV[2 * i])
end
redis.call('publish', ARGV[#ARGV - 1], ARGV[#ARGV])
return 1
"""
# compare_and_set, refused (-1) when a checked group's invalidation mark (a server time) is at or
# after ARGV[6]; on success it also lists members in groups: sorted sets scored by the server time
# until which each is listed, trimmed of those past, expiring with the longest member. A key of
# ours holding something else (written by hand) counts as empty, so it cannot stop the cache from
# storing. ARGV: 1-2 as above, 3-5 how many items, lists and checked marks, 6 since, 7 how long
# members are listed (ms), then each item's value and milliseconds, then each list's member, then
# the channel of changes and the ids to publish. KEYS: guard, items, lists, marks.
_COMPARE_AND_SET_GROUPED = """
local n, l, c = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local since = tonumber(ARGV[6])
for i = 2 + n + l, 1 + n + l + c do
    local at = tonumber(redis.pcall('get', KEYS[i]))
    if at and at >= since then return -1 end
end
local current = redis.call('get', KEYS[1])
if ARGV[1] == '1' then
    if not current or string.sub(current, 9) ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
for i = 1, n do
    redis.call('set', KEYS[1 + i], ARGV[6 + 2 * i], 'px', ARGV[7 + 2 * i])
end
if l > 0 then
    local time = redis.call('time')
    local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local lifetime = tonumber(ARGV[7])
    for i = 1, l do
        local list = KEYS[1 + n + i]
        local kind = redis.call('type', list)['ok']
        if kind ~= 'zset' and kind ~= 'none' then redis.call('del', list) end
        redis.call('zadd', list, 'gt', now + lifetime, ARGV[7 + 2 * n + i])
        redis.call('zremrangebyscore', list, '-inf', '(' .. now)
        if redis.call('pttl', list) < lifetime then redis.call('pexpire', list, lifetime) end
    end
end
redis.call('publish', ARGV[#ARGV - 1], ARGV[#ARGV])
return 1
"""
# Invalidate groups: KEYS are (list, mark) pairs; ARGV: how long the mark is kept (ms), the key
# prefix, the channel of changes. Each mark is set to the server's time; each listed item (a
# member is "<epoch>:<id>", its key the prefix and the member) is deleted, and the list; the ids
# are published, a thousand per message.
_INVALIDATE_GROUPS = """
local time = redis.call('time')
local now = string.format('%d.%06d', time[1], time[2])
local removed = 0
for i = 1, #KEYS, 2 do
    redis.call('set', KEYS[i + 1], now, 'px', ARGV[1])
    local members = redis.pcall('zrange', KEYS[i], 0, -1)
    if members['err'] then members = {} end
    redis.call('del', KEYS[i])
    for j = 1, #members, 1000 do
        local batch, ids = {}, {}
        for k = j, math.min(j + 999, #members) do
            batch[#batch + 1] = ARGV[2] .. members[k]
            ids[#ids + 1] = string.sub(members[k], (string.find(members[k], ':', 1, true) or 0) + 1)
        end
        removed = removed + redis.call('del', unpack(batch))
        redis.call('publish', ARGV[3], table.concat(ids, ' '))
    end
end
return removed
"""
# On Redis Cluster the group lists and marks live in one slot of their own ("{groups}"), away from
# the responses: a grouped store writes the response (compare-and-set) and then runs this there.
# KEYS: lists, marks. ARGV: how many lists, since, how long members are listed (ms), the members.
# -1 when a mark is at or after ``since`` (the caller removes what it wrote), else lists them.
_CHECK_AND_LIST = """
local l = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
for i = l + 1, #KEYS do
    local at = tonumber(redis.pcall('get', KEYS[i]))
    if at and at >= since then return -1 end
end
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lifetime = tonumber(ARGV[3])
for i = 1, l do
    local kind = redis.call('type', KEYS[i])['ok']
    if kind ~= 'zset' and kind ~= 'none' then redis.call('del', KEYS[i]) end
    redis.call('zadd', KEYS[i], 'gt', now + lifetime, ARGV[3 + i])
    redis.call('zremrangebyscore', KEYS[i], '-inf', '(' .. now)
    if redis.call('pttl', KEYS[i]) < lifetime then redis.call('pexpire', KEYS[i], lifetime) end
end
return 1
"""
# On Redis Cluster: mark the groups and take their lists (KEYS: list, mark pairs; ARGV: how long
# a mark is kept, ms), returning the members; the caller removes them, node by node.
_TAKE_GROUPS = """
local time = redis.call('time')
local now = string.format('%d.%06d', time[1], time[2])
local members = {}
for i = 1, #KEYS, 2 do
    redis.call('set', KEYS[i + 1], now, 'px', ARGV[1])
    local listed = redis.pcall('zrange', KEYS[i], 0, -1)
    if not listed['err'] then
        for _, member in ipairs(listed) do members[#members + 1] = member end
    end
    redis.call('del', KEYS[i])
end
return members
"""
# purge_all: a new epoch (KEYS[1]; every item of the old one is unreachable from now on), and the
# removal's mark (KEYS[2]) at the server's time, so that a response computed before it is not
# stored after it. ARGV: the new epoch, how long the mark is kept (ms), the channel of changes.
_NEW_EPOCH = """
local time = redis.call('time')
redis.call('set', KEYS[2], string.format('%d.%06d', time[1], time[2]), 'px', ARGV[2])
redis.call('set', KEYS[1], ARGV[1])
redis.call('publish', ARGV[3], '*')
return 1
"""
# Release the lock only while it is still ours: a lock that expired and was taken by another
# process must not be deleted by the first owner when it finally finishes.
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


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
        cluster = isinstance(client, RedisCluster)
        if not cluster and not isinstance(client, redis.Redis):
            raise TypeError(
                f"RedisCacheStorage needs a redis.Redis or redis.cluster.RedisCluster client, got {client!r}"
            )
        if timeout is not None:
            check_number(timeout, "RedisCacheStorage(timeout=...)", unit="seconds", whole=False, minimum=0, above=True)
        if timeout is None and _decodes_responses(client):
            raise ValueError("RedisCacheStorage needs a client with decode_responses=False: entries are bytes")
        check_prefix(prefix)
        self._owns_client = timeout is not None
        self._cluster = cluster
        self._client: Any = client if timeout is None else _bounded(client, float(timeout))
        self._prefix = prefix
        self._groups_prefix = f"{prefix}{{groups}}" if cluster else prefix
        """Group lists and marks, and the epoch: on a cluster, in one slot of their own."""
        self._epoch_key = f"{self._groups_prefix}epoch"
        self._epoch = INITIAL_EPOCH
        """The epoch items are read and written in, as the last read found it (``purge_all``)."""
        self._time = clock.time
        self._release = self._client.register_script(_RELEASE_IF_OWNER)
        self._compare_and_set = self._client.register_script(_COMPARE_AND_SET)
        self._compare_and_set_grouped = self._client.register_script(_COMPARE_AND_SET_GROUPED)
        self._channel = f"{prefix}changes"
        self._invalidate_groups = self._client.register_script(_INVALIDATE_GROUPS)
        self._check_and_list = self._client.register_script(_CHECK_AND_LIST)
        self._take_groups = self._client.register_script(_TAKE_GROUPS)
        self._new_epoch = self._client.register_script(_NEW_EPOCH)

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
            _check_connection_options(client)
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
            self._client.close()
            if not self._cluster:
                self._client.connection_pool.disconnect()  # close() leaves a pool it was given alone

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """The client the storage's calls go through."""
        client: redis.Redis | RedisCluster = self._client
        return client

    def _key(self, item_id: str, epoch: str | None = None) -> str:
        """The key of an item in ``epoch`` (default: the current one): on a cluster, with its
        resource's hash tag."""
        if epoch is None:
            epoch = self._epoch
        if self._cluster:
            tag = slot_tag(item_id)
            if tag is not None:
                return f"{self._prefix}{{{tag}}}{epoch}:{item_id}"
        return f"{self._prefix}{epoch}:{item_id}"

    def _member(self, item_id: str) -> str:
        """How a group lists an item: with its epoch, so that the key can be found again."""
        return f"{self._epoch}:{item_id}"

    def _member_key(self, member: str) -> str:
        epoch, _, item_id = member.partition(":")
        return self._key(item_id, epoch)

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
        for _ in range(2):
            epoch = self._epoch
            keys = [self._epoch_key, *(self._key(item_id, epoch) for item_id in item_ids)]
            values = self._client.mget_nonatomic(keys) if self._cluster else self._client.mget(keys)
            current = INITIAL_EPOCH if values[0] is None else values[0].decode(errors="replace")
            if current == epoch:
                return list(values[1:])
            self._epoch = current
        return [None] * len(item_ids)  # the epoch changed twice meanwhile: nothing is trusted

    def set(self, item: CacheItem) -> None:
        key = self._key(item.id)
        with _refusals():
            pipeline = self._client if self._cluster else self._client.pipeline(transaction=False)
            if item.ttl <= 0 or not item:
                pipeline.delete(key)  # an expired tombstone: nothing to keep
            else:
                value, milliseconds = self._value(item)
                pipeline.set(key, value, px=milliseconds)
            pipeline.publish(self._channel, item.id)
            if not self._cluster:  # a cluster's commands go one by one: a pipeline would not keep their order
                pipeline.execute()

    def collect(self, item: CacheItem) -> None:
        with _refusals():
            pipeline = self._client if self._cluster else self._client.pipeline(transaction=False)
            pipeline.delete(self._key(item.id))
            pipeline.publish(self._channel, item.id)
            if not self._cluster:
                pipeline.execute()

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        """One script: the check and every write happen as one step for every client of the server."""
        item_keys, values = self._writes(items)
        keys = [self._key(guard_id), *item_keys]
        arguments = [b"1" if expected is not None else b"0", expected or b"", *values]
        arguments += [self._channel, " ".join(item.id for item in items)]
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
        if self._cluster:
            return self._compare_and_set_then_list(guard_id, expected, items, listings, checked, since, lifetime)
        item_keys, values = self._writes(items)
        keys = [self._key(guard_id), *item_keys]
        keys += [self._list_key(group) for group, _ in listings]
        marks = [self._mark_key(group) for group in checked] + [self._everything_key]
        keys += marks
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
            self._channel,
            " ".join(item.id for item in items),
        ]
        with _refusals():
            written = int(self._compare_and_set_grouped(keys=keys, args=arguments))
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
        keys = [self._list_key(group) for group, _ in listings]
        keys += [self._mark_key(group) for group in checked] + [self._everything_key]
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
        if self._cluster:
            node = self._client.get_node_from_key(self._everything_key)
            seconds, microseconds = self._client.execute_command("TIME", target_nodes=node)
        else:
            seconds, microseconds = self._client.time()
        return float(f"{int(seconds)}.{int(microseconds):06d}")

    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        """One script for all the groups, whatever their size: one round trip (on a cluster, one
        more per node that holds members)."""
        keys = [key for group in group_ids for key in (self._list_key(group), self._mark_key(group))]
        with _refusals():
            if self._cluster:
                return self._remove_members(self._take_groups(keys=keys, args=[max(1, keep_for * 1000)]))
            arguments: list[str | int] = [max(1, keep_for * 1000), self._prefix, self._channel]
            return int(self._invalidate_groups(keys=keys, args=arguments))

    def _remove_members(self, members: Sequence[bytes]) -> int:
        """Remove listed items, each on its own node (a pipeline per node), and publish their ids."""
        listed = [member.decode() if isinstance(member, bytes) else str(member) for member in members]
        if not listed:
            return 0
        pipeline = self._client.pipeline(transaction=False)
        for member in listed:
            pipeline.unlink(self._member_key(member))
        removed = sum(int(result) for result in pipeline.execute())
        ids = [member.partition(":")[2] for member in listed]
        for start in range(0, len(ids), 1000):
            self._client.publish(self._channel, " ".join(ids[start : start + 1000]))
        return removed

    def group_members(self, group_id: str) -> list[str]:
        """The ids listed in the group now, of the current epoch."""
        now_ms = int(self.storage_time() * 1000)
        members = self._client.zrangebyscore(self._list_key(group_id), now_ms, "+inf")
        epoch = f"{self._epoch}:"
        listed = (member.decode() if isinstance(member, bytes) else str(member) for member in members)
        return [member[len(epoch) :] for member in listed if member.startswith(epoch)]

    def remove_all(self, keep_for: int) -> None:
        """Start a new epoch: every item stored so far becomes unreachable at once and expires by its
        TTL, and stores computed before now are refused. One script, whatever Redis holds: nothing
        is scanned or deleted, so nothing but the cache's own keys is touched. It does not count
        what it removed (``None``)."""
        epoch = secrets.token_hex(4)
        with _refusals():
            self._new_epoch(
                keys=[self._epoch_key, self._everything_key],
                args=[epoch, max(1, keep_for * 1000), self._channel],
            )
        self._epoch = epoch
        return None

    # -- changes (IPublishingCacheStorage) -------------------------------------------------------

    def subscribe(
        self, on_change: Callable[[Sequence[str] | None], None], on_listening: Callable[[bool], None]
    ) -> Subscription:
        """Deliver every change any client makes through a ``RedisCacheStorage`` with this prefix
        (each write publishes the ids it changed on ``<prefix>changes``), on a thread of its own.
        On a cluster it listens on one node, any node that answers (messages reach every node)."""
        return _Subscription(
            _subscriber_clients(self._client), self._channel, on_change, on_listening, self._acknowledge
        )

    def synchronise(self, timeout: float = 1.0) -> tuple[int, int]:
        """Wait until every process listening to this storage's changes has taken in every change
        made before the call (messages arrive in order: each listener acknowledges a marker sent
        after them). Returns (how many were listening, how many did not acknowledge within
        ``timeout`` seconds). A listener that did not (frozen, cut off) stops trusting its copies
        when its lease runs out (``TieredCacheStorage``). Purges call it before they return."""
        token = secrets.token_hex(8)
        key = f"{self._prefix}ack:{token}"
        with _refusals():
            listeners = int(self._client.publish(self._channel, f"{SYNCHRONISE}{token}"))
            deadline = time.monotonic() + timeout
            acknowledged = 0
            while listeners:
                acknowledged = int(self._client.get(key) or 0)
                if acknowledged >= listeners or time.monotonic() >= deadline:
                    self._client.delete(key)
                    break
                time.sleep(0.0005)
        return listeners, max(0, listeners - acknowledged)

    def _acknowledge(self, token: str) -> None:
        key = f"{self._prefix}ack:{token}"
        pipeline = self._client.pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, 10)
        pipeline.execute()

    def _list_key(self, group_id: str) -> str:
        return f"{self._groups_prefix}{group_id}:m"

    def _mark_key(self, group_id: str) -> str:
        return f"{self._groups_prefix}{group_id}:i"

    @property
    def _everything_key(self) -> str:
        return f"{self._groups_prefix}everything:i"

    def _value(self, item: CacheItem) -> tuple[bytes, int]:
        """What Redis keeps for ``item``, and for how many milliseconds: its expiry time (negative
        for a bookkeeping item), then its body."""
        expires_at = self._time() + item.ttl
        return _EXPIRY.pack(-expires_at if item.bookkeeping else expires_at) + item.body, max(1, int(item.ttl * 1000))

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self._client.set(self._lock_key(name), token, nx=True, px=max(1, int(ttl * 1000)))
        return token if taken else None

    def release_lock(self, name: str, token: str) -> None:
        self._release(keys=[self._lock_key(name)], args=[token])

    def _lock_key(self, name: str) -> str:
        tag = slot_tag(name) if self._cluster else None
        return f"{self._prefix}lock:{name}" if tag is None else f"{self._prefix}lock:{{{tag}}}{name}"

    def _item(self, item_id: str, value: object) -> CacheItem | None:
        if value is None:
            return None
        now = self._time()
        if not isinstance(value, bytes) or len(value) < _EXPIRY.size:
            # The middleware refuses this entry, and removes it.
            return CacheItem(item_id, b"\x00not written by this storage", 1, now=now)
        (expires_at,) = _EXPIRY.unpack_from(value)
        if not math.isfinite(expires_at):
            return CacheItem(item_id, b"\x00not written by this storage", 1, now=now)
        remaining = min(max(0.0, abs(expires_at) - now), 2**31)
        return CacheItem(item_id, value[_EXPIRY.size :], math.ceil(remaining), now=now, bookkeeping=expires_at < 0)


def _subscriber_clients(client: Any) -> Callable[[], redis.Redis]:
    """Clients for subscriptions, one per call: to the same server (on a cluster, to each node in
    turn), without the per-call timeout (they wait for messages), with a short connect timeout,
    keep-alive, and a health check that finds a dead connection."""
    settings: dict[str, Any] = {
        "socket_connect_timeout": 1.0,
        "socket_keepalive": True,
        "health_check_interval": 1,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
    }
    if isinstance(client, RedisCluster):
        turn = itertools.count()
        cluster: Any = client  # redis-py's cluster methods are not annotated

        def next_node() -> redis.Redis:
            nodes = cluster.get_primaries() or cluster.get_nodes()
            node = nodes[next(turn) % len(nodes)]
            return redis.Redis(host=node.host, port=node.port, **settings)

        return next_node
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    for name in ("socket_timeout", "orig_socket_timeout"):
        kwargs.pop(name, None)
    kwargs.update(settings, retry_on_timeout=False, retry_on_error=[])
    subscriber = redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))
    return lambda: subscriber


def _decodes_responses(client: Any) -> bool:
    if isinstance(client, RedisCluster):
        cluster: Any = client
        return bool(cluster.get_connection_kwargs().get("decode_responses"))
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


class _Subscription:
    """A thread that listens on the channel of changes, and says when it is (not) listening.

    It also pings Redis on the subscription's own connection every ``HEARTBEAT_SECONDS``: the
    answer comes back in order with the changes, so when it arrives, every change published
    before the ping was sent has been delivered. ``heard_at`` is when the last answered ping was
    sent (monotonic): a tier trusts its copies only for a while after it (``TieredCacheStorage``).
    """

    def __init__(
        self,
        clients: Callable[[], redis.Redis],
        channel: str,
        on_change: Callable[[Sequence[str] | None], None],
        on_listening: Callable[[bool], None],
        acknowledge: Callable[[str], None],
    ) -> None:
        self._clients, self._channel = clients, channel
        self._acknowledge = acknowledge
        self._on_change, self._on_listening = on_change, on_listening
        self._stopped = threading.Event()
        self._pubsub: Any = None
        self.heard_at = -math.inf
        """When the last ping whose answer arrived was sent (monotonic seconds)."""
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"chocs-cache {channel}")
        self._thread.start()

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(Exception):  # wakes the thread from its wait for a message
            self._pubsub.connection.disconnect()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stopped.is_set():
            pubsub = self._pubsub = self._clients().pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                pinged_at = -math.inf
                while not self._stopped.is_set():
                    now = time.monotonic()
                    if now - pinged_at >= HEARTBEAT_SECONDS:
                        pubsub.ping(repr(now))
                        pinged_at = now
                    message = pubsub.get_message(timeout=HEARTBEAT_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "pong":
                        self.heard_at = max(self.heard_at, float(message["data"]))
                    elif message["type"] == "subscribe":
                        self._on_listening(True)
                        backoff = 0.05
                    elif message["type"] == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        if text.startswith(SYNCHRONISE):
                            self._acknowledge(text[len(SYNCHRONISE) :])
                        else:
                            self._on_change(None if text == EVERYTHING_CHANGED else text.split())
            except Exception as error:  # the connection broke: nothing is trusted until it is back
                self._on_listening(False)
                _log.debug("cache subscription to %s lost: %r", self._channel, error)
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection
                    pubsub.close()
        self._on_listening(False)


def check_prefix(prefix: object) -> None:
    """A key prefix that only the cache's keys can start with, or the error that says why not."""
    if not isinstance(prefix, str):
        raise TypeError(f"RedisCacheStorage(prefix=...) must be a string such as 'chocs-cache:', got {prefix!r}")
    if not prefix:
        raise ValueError(
            "RedisCacheStorage(prefix=...) must not be empty: every key of the Redis (sessions, queues, ...) "
            "would start with it. Use a prefix of the cache's own, such as 'chocs-cache:'"
        )
    odd = sorted({char for char in prefix if char in "*?[]\\{}" or char.isspace()})
    if odd:
        raise ValueError(
            f"RedisCacheStorage(prefix=...) must not contain {' '.join(odd)}: glob characters match other keys, "
            f"and braces choose the Redis Cluster slot; got {prefix!r}"
        )
    if not prefix.endswith(":"):
        raise ValueError(
            f"RedisCacheStorage(prefix=...) must end with ':' (write {prefix + ':'!r}): without a separator, "
            f"other applications' keys that merely begin with the same letters ({prefix + '_sessions:1'!r}) "
            f"start with it too"
        )


def _check_connection_options(client: Any) -> None:
    """Make a connection object (without connecting) from the client's settings: an option Redis
    does not know fails now, when the storage is made, not on every call."""
    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as error:
        raise TypeError(f"RedisCacheStorage.from_url: {error}") from None


@contextmanager
def _refusals() -> Iterator[None]:
    """Redis's refusals of a write, as the storage protocol's ``WriteRefused``."""
    try:
        yield
    except redis.exceptions.ResponseError as error:
        if isinstance(error, _REFUSAL_TYPES) or str(error).startswith(_REFUSALS):
            raise WriteRefused(str(error)) from error
        raise


def _bounded(client: Any, timeout: float) -> Any:
    """A client to the same server (or cluster) whose calls give up after ``timeout`` seconds,
    without retrying."""
    if isinstance(client, RedisCluster):
        cluster: Any = client
        node = cluster.get_default_node() or cluster.get_nodes()[0]
        kwargs = {
            name: value
            for name, value in cluster.get_connection_kwargs().items()
            if name in ("username", "password", "ssl", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
        }
        return RedisCluster(
            host=node.host,
            port=node.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
            **kwargs,
        )
    pool = client.connection_pool
    settings = dict(pool.connection_kwargs)
    settings.update(socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    settings.update(retry_on_timeout=False, retry_on_error=[], decode_responses=False)
    for name in ("orig_socket_timeout", "orig_socket_connect_timeout"):  # redis-py 8 restores these later
        if name in settings:
            settings[name] = timeout
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **settings))
