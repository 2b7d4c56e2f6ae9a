"""The commands an app sends Redis, as Redis's ``MONITOR`` sees them (tests and ``make bench``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis


def commands_sent(redis_url: str, action: Callable[[], None]) -> list[str]:
    """The names of the commands clients sent while ``action`` ran, in order: each is at most one
    round trip (a pipeline sends several in one); those a script ran inside the server are left out."""
    client, marker = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    marker.ping()  # connected (and its handshake sent) before MONITOR starts
    seen: list[str] = []
    end = f"monitor-end-{time.monotonic_ns()}"
    with client.monitor() as monitor:  # type: ignore[no-untyped-call]
        listening = threading.Thread(target=_listen, args=(monitor, end, seen))
        listening.start()
        time.sleep(0.05)  # MONITOR is on before the action starts
        action()
        marker.echo(end)
        listening.join(timeout=10)
    client.close()
    marker.close()
    return seen


def _listen(monitor: Any, end: str, seen: list[str]) -> None:
    for command in monitor.listen():
        if end in command["command"]:
            return
        if command["client_type"] != "lua":
            seen.append(command["command"].split(" ", 1)[0].lower())
