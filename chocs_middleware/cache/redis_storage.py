"""Redis storage: one cache shared by every worker and every instance.

Needs the ``redis`` extra: ``pip install "chocs-middleware.cache[redis]"``.

Commands per request, on a route whose vary list the route fixes:

- hit: 1 (``MGET`` of the resource's index and the variant), one round trip;
- miss that stores: ``MGET``, ``SET NX`` (the lock), ``GET`` (the index) + ``EVALSHA`` (index
  and variant, written only while the index is still the one the lookup saw), ``EVALSHA``
  (unlock): 5;
- invalidation: ``GET`` of the index, ``SET`` of the invalidation's marker, one ``DEL`` per
  stored variant.

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
# Release the lock only while it is still ours: a lock that expired and was taken by another
# process must not be deleted by the first owner when it finally finishes.
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisCacheStorage:
    """A ``CacheItem`` store in Redis, with ``collect``, ``get_many`` and a cross-process lock.

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
