"""Redis storage: one cache shared by every worker and every instance.

Needs the ``redis`` extra: ``pip install "chocs-middleware.cache[redis]"``.

Commands per request, on a route whose vary list the route fixes:

- hit: 1 (``MGET`` of the resource's index and the variant), one round trip;
- miss that stores: ``MGET``, ``SET NX`` (the lock), ``TIME`` (before the handler), ``GET`` (the
  index) + ``EVALSHA`` (index and variant, written only while the index is still the one the
  lookup saw and no purge mark is later than that ``TIME``; the response listed in its groups),
  ``EVALSHA`` (unlock): 6;
- invalidation of a path: ``GET`` of the index, ``SET`` of the invalidation's marker, one ``DEL``
  per listed variant; of groups, whatever their size: one ``EVALSHA``.

Redis expires entries itself (``SET ... PX``). Each value starts with its expiry time (8 bytes),
so that a ``GET`` alone gives back an honest ``CacheItem``.
"""

from __future__ import annotations

import math
import secrets
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'RedisCacheStorage needs the redis package: pip install "chocs-middleware.cache[redis]"'
    ) from error

from .cache_storage import CacheItem
from .checks import check_number
from .clock import SYSTEM_CLOCK, Clock
from .error import CacheError, WriteRefused

__all__ = ["DEFAULT_TIMEOUT", "RedisCacheStorage"]

DEFAULT_TIMEOUT = 0.25
"""Seconds any one Redis call may take (connecting included) before it counts as a failure."""

_EXPIRY = struct.Struct("!d")
_REFUSALS = ("OOM", "READONLY", "MISCONF", "NOREPLICAS", "command not allowed when used memory")
"""Replies with which a server that is up refuses writes (out of memory, replica, failing disk);
redis-py drops the leading error code from some of them."""
_REFUSAL_TYPES = tuple(
    getattr(redis.exceptions, name) for name in ("OutOfMemoryError", "ReadOnlyError") if hasattr(redis.exceptions, name)
)
# Write the items only while the guard (KEYS[1]) holds the expected body (after its 8-byte expiry);
# ARGV[1] is "1" when a body is expected at all. Items follow as KEYS[2..] with value and
# milliseconds in ARGV[3..].
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
return 1
"""
# compare_and_set, refused (-1) when a checked group's invalidation mark (a server time) is at or
# after ARGV[6]; on success it also lists members in groups: sorted sets scored by the server time
# until which each is listed, trimmed of those past, expiring with the longest member. A key of
# ours holding something else (written by hand) counts as empty, so it cannot stop the cache from
# storing. ARGV: 1-2 as above, 3-5 how many items, lists and checked marks, 6 since, 7 how long
# members are listed (ms), then each item's value and milliseconds, then each list's member.
# KEYS: guard, items, lists, marks.
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
        if redis.call('type', list)['ok'] ~= 'zset' then redis.call('del', list) end
        redis.call('zadd', list, 'gt', now + lifetime, ARGV[7 + 2 * n + i])
        redis.call('zremrangebyscore', list, '-inf', '(' .. now)
        if redis.call('pttl', list) < lifetime then redis.call('pexpire', list, lifetime) end
    end
end
return 1
"""
# Invalidate groups: KEYS are (list, mark) pairs; ARGV: how long the mark is kept (ms), the key
# prefix. Each mark is set to the server's time; each listed item is deleted, and the list.
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
        local batch = {}
        for k = j, math.min(j + 999, #members) do batch[#batch + 1] = ARGV[2] .. members[k] end
        removed = removed + redis.call('del', unpack(batch))
    end
end
return removed
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
    """A ``CacheItem`` store in Redis, with ``collect``, ``get_many``, a cross-process lock and
    groups (``IGroupCacheStorage``: sorted sets of members, and invalidation marks).

    ``client`` is a ``redis.Redis``. With ``timeout`` (seconds, default 0.25) the storage talks
    to the same server over its own connections, on which every call gives up after ``timeout``
    and is not retried: a Redis that is down or slow then costs each request at most that, and
    the cache is bypassed. ``timeout=None`` uses the client exactly as configured. Keys are
    ``prefix`` + the middleware's ids (``prefix`` + ``lock:`` + name for locks).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "chocs-cache:",
        timeout: float | None = DEFAULT_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not isinstance(client, redis.Redis):
            raise TypeError(f"RedisCacheStorage needs a redis.Redis client, got {client!r}")
        if timeout is not None:
            check_number(timeout, "RedisCacheStorage(timeout=...)", unit="seconds", whole=False, minimum=0, above=True)
        if timeout is None and client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisCacheStorage needs a client with decode_responses=False: entries are bytes")
        self._owns_client = timeout is not None
        self._client = client if timeout is None else _bounded(client, float(timeout))
        self._prefix = prefix
        self._time = clock.time
        self._release = self._client.register_script(_RELEASE_IF_OWNER)
        self._compare_and_set = self._client.register_script(_COMPARE_AND_SET)
        self._compare_and_set_grouped = self._client.register_script(_COMPARE_AND_SET_GROUPED)
        self._invalidate_groups = self._client.register_script(_INVALIDATE_GROUPS)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "chocs-cache:",
        timeout: float | None = DEFAULT_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
        **options: Any,
    ) -> RedisCacheStorage:
        """A storage on ``redis://host:port/db`` (any URL ``redis.Redis.from_url`` takes)."""
        client = redis.Redis.from_url(url, **options)
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
            self._client.connection_pool.disconnect()  # close() leaves a pool it was given alone

    @property
    def client(self) -> redis.Redis:
        """The client the storage's calls go through."""
        return self._client

    def get(self, item_id: str) -> CacheItem:
        item = self._item(item_id, self._client.get(self._prefix + item_id))
        if item is None:
            raise CacheError.for_not_found(item_id)
        return item

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        values = self._client.mget([self._prefix + item_id for item_id in item_ids])
        return [self._item(item_id, value) for item_id, value in zip(item_ids, values)]

    def set(self, item: CacheItem) -> None:
        with _refusals():
            if item.ttl <= 0 or not item:
                self._client.delete(self._prefix + item.id)  # an expired tombstone: nothing to keep
                return
            value, milliseconds = self._value(item)
            self._client.set(self._prefix + item.id, value, px=milliseconds)

    def collect(self, item: CacheItem) -> None:
        with _refusals():
            self._client.delete(self._prefix + item.id)

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        """One script: the check and every write happen as one step for every client of the server."""
        keys = [self._prefix + guard_id]
        arguments: list[bytes | int] = [b"1" if expected is not None else b"0", expected or b""]
        for item in items:
            value, milliseconds = self._value(item)
            keys.append(self._prefix + item.id)
            arguments += [value, milliseconds]
        with _refusals():
            return bool(self._compare_and_set(keys=keys, args=arguments))

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
        """One script: the group checks, the compare, the writes and the listings."""
        lifetime = max((item.ttl for item in items), default=0)
        keys = [self._prefix + guard_id]
        values: list[bytes | int | str] = []
        for item in items:
            value, milliseconds = self._value(item)
            keys.append(self._prefix + item.id)
            values += [value, milliseconds]
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
            *(member for _, member in listings),
        ]
        with _refusals():
            written = int(self._compare_and_set_grouped(keys=keys, args=arguments))
        return None if written < 0 else bool(written)

    def storage_time(self) -> float:
        """The Redis server's clock (``TIME``): every process compares invalidations on it."""
        seconds, microseconds = self._client.time()
        return float(f"{seconds}.{microseconds:06d}")

    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        """One script for all the groups, whatever their size: one round trip."""
        keys = [key for group in group_ids for key in (self._list_key(group), self._mark_key(group))]
        arguments: list[str | int] = [max(1, keep_for * 1000), self._prefix]
        with _refusals():
            return int(self._invalidate_groups(keys=keys, args=arguments))

    def group_members(self, group_id: str) -> list[str]:
        now_ms = int(self.storage_time() * 1000)
        members = self._client.zrangebyscore(self._list_key(group_id), now_ms, "+inf")
        return [member.decode() if isinstance(member, bytes) else str(member) for member in members]

    def remove_all(self, keep_for: int, counting: str) -> int:
        """Marks the removal first (stores computed before it are refused from then on), then
        deletes every key under the prefix but the marks and locks, a thousand per round trip."""
        prefix = self._prefix.encode()
        kept = (prefix + b"lock:",)
        counted = prefix + counting.encode()
        removed = 0
        with _refusals():
            self._client.set(self._everything_key, repr(self.storage_time()), px=max(1, keep_for * 1000))
            for batch in _batches(self._client.scan_iter(match=_glob_escape(self._prefix) + "*", count=1000), 1000):
                doomed = [key for key in batch if not key.endswith(b":i") and not key.startswith(kept)]
                if doomed:
                    self._client.unlink(*doomed)
                    removed += sum(1 for key in doomed if key.startswith(counted))
        return removed

    def _list_key(self, group_id: str) -> str:
        return f"{self._prefix}{group_id}:m"

    def _mark_key(self, group_id: str) -> str:
        return f"{self._prefix}{group_id}:i"

    @property
    def _everything_key(self) -> str:
        return f"{self._prefix}everything:i"

    def _value(self, item: CacheItem) -> tuple[bytes, int]:
        """What Redis keeps for ``item``, and for how many milliseconds."""
        return _EXPIRY.pack(self._time() + item.ttl) + item.body, max(1, int(item.ttl * 1000))

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self._client.set(self._lock_key(name), token, nx=True, px=max(1, int(ttl * 1000)))
        return token if taken else None

    def release_lock(self, name: str, token: str) -> None:
        self._release(keys=[self._lock_key(name)], args=[token])

    def _lock_key(self, name: str) -> str:
        return f"{self._prefix}lock:{name}"

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
        remaining = min(max(0.0, expires_at - now), 2**31)
        return CacheItem(item_id, value[_EXPIRY.size :], math.ceil(remaining), now=now)


def _batches(keys: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis ``MATCH`` pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


@contextmanager
def _refusals() -> Iterator[None]:
    """Redis's refusals of a write, as the storage protocol's ``WriteRefused``."""
    try:
        yield
    except redis.exceptions.ResponseError as error:
        if isinstance(error, _REFUSAL_TYPES) or str(error).startswith(_REFUSALS):
            raise WriteRefused(str(error)) from error
        raise


def _bounded(client: redis.Redis, timeout: float) -> redis.Redis:
    """A client to the same server whose calls give up after ``timeout`` seconds, without retrying."""
    pool = client.connection_pool
    settings = dict(pool.connection_kwargs)
    settings.update(socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    settings.update(retry_on_timeout=False, retry_on_error=[], decode_responses=False)
    for name in ("orig_socket_timeout", "orig_socket_connect_timeout"):  # redis-py 8 restores these later
        if name in settings:
            settings[name] = timeout
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **settings))
