"""Redis storage: one cache shared by every worker and every instance.

Needs the ``redis`` extra: ``pip install "chocs-middleware.cache[redis]"``.

Commands per request, on a route whose vary list the route fixes:

- hit: 1 (``MGET`` of the resource's index and the variant), one round trip;
- miss that stores: ``MGET``, ``SET NX`` (the lock), ``GET`` + ``SET`` + ``SET`` (index and
  variant), ``EVALSHA`` (unlock): 6;
- invalidation: ``GET`` of the index, then one ``DEL`` for it and one per stored variant.

Redis expires entries itself (``SET ... PX``). Each value starts with its expiry time (8 bytes),
so that a ``GET`` alone gives back an honest ``CacheItem``.
"""

from __future__ import annotations

import math
import secrets
import struct
from collections.abc import Sequence
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
from .error import CacheError

__all__ = ["DEFAULT_TIMEOUT", "RedisCacheStorage"]

DEFAULT_TIMEOUT = 0.25
"""Seconds any one Redis call may take (connecting included) before it counts as a failure."""

_EXPIRY = struct.Struct("!d")
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
        milliseconds = int(item.ttl * 1000)
        if milliseconds <= 0 or not item:
            self._client.delete(self._prefix + item.id)  # an expired tombstone: nothing to keep
            return
        expires_at = self._time() + item.ttl
        self._client.set(self._prefix + item.id, _EXPIRY.pack(expires_at) + item.body, px=milliseconds)

    def collect(self, item: CacheItem) -> None:
        self._client.delete(self._prefix + item.id)

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
        return CacheItem(item_id, value[_EXPIRY.size :], max(0, math.ceil(expires_at - now)), now=now)


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
