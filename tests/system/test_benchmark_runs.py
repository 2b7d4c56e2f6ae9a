"""``make bench`` keeps working (its figures are read by people, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.processes import ROOT

pytestmark = pytest.mark.system


def test_benchmark_runs_and_prints_the_ratio_and_the_memory_per_entry() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr
    assert "hit / bare = " in result.stdout
    assert "B (target <= 2300 B)" in result.stdout


def test_the_miss_row_runs_alone_and_its_profile_names_the_storing_path() -> None:
    timed = subprocess.run(
        [sys.executable, "-m", "benchmarks.misses", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    profiled = subprocess.run(
        [sys.executable, "-m", "benchmarks.misses", "--profile", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert timed.returncode == 0, timed.stderr
    assert "miss / no cache = " in timed.stdout
    assert "least a cache can do" in timed.stdout and "through zlib level 1" in timed.stdout  # the floor beside it
    assert "with a handler that waits 1 ms first" in timed.stdout and "added per miss" in timed.stdout
    assert profiled.returncode == 0, profiled.stderr
    assert "encode_index" in profiled.stdout  # a path with one variant: its index, carrying the response


def test_instructions_per_request_are_counted_under_valgrind() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "miss", "least", "--count", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    counts = dict(line.split() for line in result.stdout.splitlines()[1:])
    assert list(counts) == ["miss", "least"]
    miss, least = (int(counts[kind].replace(",", "")) for kind in ("miss", "least"))
    assert 100_000 < least < miss < 10_000_000  # the requests alone, not start-up; the floor below the miss
