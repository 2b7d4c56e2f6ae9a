"""Changes, told to every process: what the storage's scripts and writes publish on
``<prefix>changes``, a subscription thread that hears them (and a heartbeat that shows it still
does), and ``synchronise``, which waits until every listener has taken in what came before.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

__all__ = ["EVERYTHING_CHANGED", "HEARTBEAT_SECONDS", "SYNCHRONISE", "Subscription", "acknowledge", "synchronise"]

EVERYTHING_CHANGED = "*"
"""Published when every item may have changed (``remove_all``)."""
SYNCHRONISE = "#"
"""Starts a marker message: each listener acknowledges it once it has taken in what came before."""
HEARTBEAT_SECONDS = 0.1
"""How often a subscription pings Redis to show that it still hears every change."""
_log = logging.getLogger("chocs_middleware.cache")


def synchronise(client: Any, channel: str, prefix: str, timeout: float) -> tuple[int, int]:
    """Publish a marker after every change made so far, and wait until every listener has
    acknowledged it; (how many were listening, how many did not within ``timeout`` seconds)."""
    token = secrets.token_hex(8)
    key = f"{prefix}ack:{token}"
    listeners = int(client.publish(channel, f"{SYNCHRONISE}{token}"))
    deadline = time.monotonic() + timeout
    acknowledged = 0
    while listeners:
        acknowledged = int(client.get(key) or 0)
        if acknowledged >= listeners or time.monotonic() >= deadline:
            client.delete(key)
            break
        time.sleep(0.0005)
    return listeners, max(0, listeners - acknowledged)


def acknowledge(client: Any, prefix: str, token: str) -> None:
    """Count this listener in for the marker ``token`` (the counter expires by itself)."""
    key = f"{prefix}ack:{token}"
    pipeline = client.pipeline(transaction=False)
    pipeline.incr(key)
    pipeline.expire(key, 10)
    pipeline.execute()


class Subscription:
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
