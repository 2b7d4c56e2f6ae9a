"""Real redis-servers for the tests, on free loopback ports, stopped afterwards: one server, or a
Redis Cluster of three masters."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.processes import free_port

INSTALL_HINT = (
    "redis-server is not installed: `make test` installs it with apt-get when it can; "
    "otherwise install Redis 6 or newer so that redis-server is on the PATH"
)


class RedisServerMissing(RuntimeError):
    pass


class RedisServer:
    def __init__(self, cluster: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisServerMissing(INSTALL_HINT)
        self._executable = executable
        self._cluster = cluster
        self._directory = tempfile.TemporaryDirectory(prefix="chocs-cache-redis-")
        self.port = _cluster_port() if cluster else free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self._executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._directory.name,
                "--logfile",
                str(Path(self._directory.name) / "redis.log"),
                *(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "1000",
                    ]
                    if self._cluster
                    else []
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        self.stop()
        self._directory.cleanup()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 <= 65535:
            try:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisClusterServers:
    """A Redis Cluster of three masters (no replicas), made with ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        if shutil.which("redis-cli") is None:
            raise RedisServerMissing(INSTALL_HINT.replace("redis-server is", "redis-cli is"))
        self.nodes = [RedisServer(cluster=True) for _ in range(3)]
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            self.close()
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        self.wait_until_ok()

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def wait_until_ok(self, seconds: float = 30.0) -> None:
        """Until every node says cluster_state:ok (slots covered, nodes agreed)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states = [self._info(node.port) for node in self.nodes]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not become ok")

    @staticmethod
    def _info(port: int) -> str:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
                connection.sendall(b"CLUSTER INFO\r\n")
                return connection.recv(4096).decode(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        for node in self.nodes:
            node.close()
