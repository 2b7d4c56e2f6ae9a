"""The ``prometheus`` extra: ``stats()`` as Prometheus series, in one process and under gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chocs import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest

from chocs_middleware.cache.prometheus import PrometheusExporter
from support.processes import ROOT, free_port, wait_for_port
from tests.conftest import Harness


def series(text: str) -> dict[str, float]:
    """Each sample line of an exposition, as name{labels} -> value."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_the_exporter_shows_the_counters_and_the_storage(harness: Harness) -> None:
    @harness.app.get("/items/{id}", cache_expiry=600)
    def item(request: HttpRequest) -> HttpResponse:
        return HttpResponse("item", headers={"etag": '"1"'})

    registry = CollectorRegistry()
    exporter = PrometheusExporter(harness.middleware, registry, interval=None)
    for _ in range(3):
        harness.client.get("/items/1")
    harness.client.get("/items/1", headers={"If-None-Match": '"1"'})

    exporter.sync()
    samples = series(generate_latest(registry).decode())

    assert samples['chocs_cache_responses_total{outcome="hit"}'] == 3
    assert samples['chocs_cache_responses_total{outcome="uri-miss"}'] == 1
    assert samples['chocs_cache_answered_from_storage_total{status="304"}'] == 1
    assert samples["chocs_cache_stored_total"] == 1
    assert samples["chocs_cache_storage_responses"] == 1
    assert samples["chocs_cache_storage_faults_total"] == 0


def test_gunicorn_workers_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    port = free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    command = ["gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    server = subprocess.Popen(
        [sys.executable, "-m", *command, "tests.prometheus_app:application"],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    try:
        wait_for_port(port)
        for number in range(40):  # two workers, each its own in-memory cache: misses and hits on both
            urllib.request.urlopen(f"http://127.0.0.1:{port}/items/{number % 4}", timeout=10).read()
        time.sleep(0.5)  # each worker syncs every 0.1 s
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)

    samples = series(scraped)
    hits, misses = (
        samples['chocs_cache_responses_total{outcome="hit"}'],
        samples['chocs_cache_responses_total{outcome="uri-miss"}'],
    )
    assert hits + misses == 40  # every request, whichever worker answered it
    assert 4 <= misses <= 8  # each path missed once per worker that saw it
