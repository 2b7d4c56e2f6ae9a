"""Helpers for tests (and the benchmark) that run real servers on loopback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

__all__ = ["ROOT", "free_port", "wait_for_port"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20.0) -> None:
    """Return once something accepts connections on ``port``; raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing accepted connections on port {port} within {seconds:g} s")
