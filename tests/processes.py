"""A test app in processes of its own: workers of one app that share one Redis."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys

from support.processes import ROOT, free_port, wait_for_port

__all__ = ["ROOT", "AppProcess"]

HOST = {"Host": "api.example"}  # the processes stand behind one address, as workers do


class AppProcess:
    """``tests.redis_app`` in a process of its own: one worker of several that share one Redis.
    ``tier``: it keeps a copy of what it reads (``TieredCacheStorage``); ``data_url``: the Redis
    its "database" is in (default: the cache's)."""

    def __init__(
        self, redis_url: str, prefix: str, delay: float = 0.0, tier: bool = False, data_url: str | None = None
    ) -> None:
        self.port = free_port()
        environment = {**os.environ, "REDIS_URL": redis_url, "PREFIX": prefix, "PORT": str(self.port)}
        environment["DELAY"] = str(delay)
        environment["DATA_URL"] = data_url or redis_url
        if tier:
            environment["TIER"] = "1"
        self._process = subprocess.Popen([sys.executable, "-m", "tests.redis_app"], cwd=ROOT, env=environment)
        wait_for_port(self.port)

    def request(self, method: str, path: str) -> tuple[int, str, str]:
        """(status, body, Cache-Status)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body="{}" if method != "GET" else None, headers=HOST)
            response = connection.getresponse()
            return response.status, response.read().decode(), response.getheader("Cache-Status") or ""
        finally:
            connection.close()

    def freeze(self) -> None:
        """Stop the process where it stands (``SIGSTOP``), as a paused VM or a debugger would."""
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        self._process.terminate()
        self._process.wait(timeout=10)
