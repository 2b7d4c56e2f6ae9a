"""How the Redis storage reaches Redis: one server or a cluster, chosen once (``Topology``), with
clients whose every call is bounded by a timeout, and clients for subscriptions.

Every key the storage uses is made here, from its ``prefix``: item keys carry the current epoch
(``prefix`` + epoch + ``:`` + id), and on a cluster the hash tag that keeps an index and its
responses on one node; group lists and marks and the epoch share a slot of their own there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ...error import WriteRefused
from ..protocol import locality

__all__ = [
    "Topology",
    "bounded",
    "check_connection_options",
    "check_prefix",
    "decodes_responses",
    "refusals",
    "subscriber_clients",
    "topology_for",
]


class Topology:
    """The keys, and the calls whose form depends on whether Redis is one server or a cluster."""

    cluster = False

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.groups_prefix = self._groups_prefix(prefix)
        """Group lists and marks, and the epoch: on a cluster, in one slot of their own."""
        self.epoch_key = f"{self.groups_prefix}epoch"
        self.everything_key = f"{self.groups_prefix}everything:i"
        self.channel = f"{prefix}changes"

    def _groups_prefix(self, prefix: str) -> str:
        return prefix

    def key(self, item_id: str, epoch: str) -> str:
        return f"{self.prefix}{epoch}:{item_id}"

    def lock_key(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def list_key(self, group_id: str) -> str:
        return f"{self.groups_prefix}{group_id}:m"

    def mark_key(self, group_id: str) -> str:
        return f"{self.groups_prefix}{group_id}:i"

    def mget(self, keys: Sequence[str]) -> list[Any]:
        return list(self.client.mget(keys))

    def writes(self) -> Any:
        """Where to queue a few writes that go together: a pipeline (one round trip)."""
        return self.client.pipeline(transaction=False)

    def send(self, writes: Any) -> None:
        writes.execute()

    def unlink_each(self, keys: Sequence[str]) -> int:
        """Unlink the keys (one round trip per node); how many there were."""
        return int(self.client.unlink(*keys)) if keys else 0

    def time(self) -> tuple[int, int]:
        """The server's ``TIME`` (on a cluster, of the node that keeps the group marks)."""
        seconds, microseconds = self.client.time()
        return int(seconds), int(microseconds)

    def close(self) -> None:
        self.client.close()
        self.client.connection_pool.disconnect()  # close() leaves a pool it was given alone


class ClusterTopology(Topology):
    """Redis Cluster: keys carry hash tags, and commands on several slots go node by node."""

    cluster = True

    def _groups_prefix(self, prefix: str) -> str:
        return f"{prefix}{{groups}}"

    def key(self, item_id: str, epoch: str) -> str:
        tag = locality(item_id)
        return f"{self.prefix}{epoch}:{item_id}" if tag is None else f"{self.prefix}{{{tag}}}{epoch}:{item_id}"

    def lock_key(self, name: str) -> str:
        tag = locality(name)
        return f"{self.prefix}lock:{name}" if tag is None else f"{self.prefix}lock:{{{tag}}}{name}"

    def mget(self, keys: Sequence[str]) -> list[Any]:
        return list(self.client.mget_nonatomic(keys))

    def writes(self) -> Any:
        return self.client  # a cluster's commands go one by one: a pipeline would not keep their order

    def send(self, writes: Any) -> None:
        pass

    def unlink_each(self, keys: Sequence[str]) -> int:
        pipeline = self.client.pipeline(transaction=False)  # a key at a time: they are on several nodes
        for key in keys:
            pipeline.unlink(key)
        return sum(int(result) for result in pipeline.execute())

    def time(self) -> tuple[int, int]:
        node = self.client.get_node_from_key(self.everything_key)
        seconds, microseconds = self.client.execute_command("TIME", target_nodes=node)
        return int(seconds), int(microseconds)

    def close(self) -> None:
        self.client.close()


def topology_for(client: Any, prefix: str) -> Topology:
    return ClusterTopology(client, prefix) if isinstance(client, RedisCluster) else Topology(client, prefix)


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


def check_connection_options(client: Any) -> None:
    """Make a connection object (without connecting) from the client's settings: an option Redis
    does not know fails now, when the storage is made, not on every call."""
    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as error:
        raise TypeError(f"RedisCacheStorage.from_url: {error}") from None


def decodes_responses(client: Any) -> bool:
    if isinstance(client, RedisCluster):
        cluster: Any = client
        return bool(cluster.get_connection_kwargs().get("decode_responses"))
    return bool(client.connection_pool.connection_kwargs.get("decode_responses"))


def bounded(client: Any, timeout: float) -> Any:
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


def subscriber_clients(client: Any) -> Callable[[], redis.Redis]:
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


_REFUSALS = ("OOM", "READONLY", "MISCONF", "NOREPLICAS", "command not allowed when used memory")
"""Replies with which a server that is up refuses writes (out of memory, replica, failing disk);
redis-py drops the leading error code from some of them."""
_REFUSAL_TYPES = tuple(
    getattr(redis.exceptions, name) for name in ("OutOfMemoryError", "ReadOnlyError") if hasattr(redis.exceptions, name)
)


@contextmanager
def refusals() -> Iterator[None]:
    """Redis's refusals of a write, as the storage protocol's ``WriteRefused``."""
    try:
        yield
    except redis.exceptions.ResponseError as error:
        if isinstance(error, _REFUSAL_TYPES) or str(error).startswith(_REFUSALS):
            raise WriteRefused(str(error)) from error
        raise
