"""``make demo``: the server starts, and the walk-through it prints does what it says."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from examples.walkthrough import STEPS
from support.processes import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def demo_server() -> Iterator[tuple[int, str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.serve"],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port)
        yield port, process.stdout.readline() if process.stdout else ""
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_demo_prints_where_it_serves(demo_server: tuple[int, str]) -> None:
    port, first_line = demo_server
    assert f"http://127.0.0.1:{port}" in first_line


def test_the_walkthrough_does_what_it_says(demo_server: tuple[int, str]) -> None:
    port, _ = demo_server
    etag = ""
    for step in STEPS:
        headers = dict(step.headers)
        if step.copy_etag:
            headers["If-None-Match"] = etag
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(step.method, step.path, body=step.body or None, headers=headers)
        response = connection.getresponse()
        body = response.read()
        connection.close()

        assert response.status == step.expect_status, step.title
        assert (response.getheader("Cache-Status") or "").startswith(step.expect_cache_status), step.title
        if step.expect_status == 304:
            assert body == b""
        assert step.expect_body in body.decode(), step.title
        etag = response.getheader("ETag") or etag


def test_a_busy_port_is_said_in_one_line(demo_server: tuple[int, str]) -> None:
    port, _ = demo_server
    second = subprocess.run(
        [sys.executable, "-m", "examples.serve"],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode == 1
    assert second.stdout.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it, or run PORT=8081 make demo"
    ]
    assert second.stderr == ""


def test_head_is_answered_from_the_get_entry(demo_server: tuple[int, str]) -> None:
    port, _ = demo_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("HEAD", "/articles/1")
    response = connection.getresponse()
    response.read()
    connection.close()

    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json"
