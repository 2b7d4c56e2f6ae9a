"""The soak (``make soak``), for 10 seconds: gunicorn, 4 workers, Redis + in-process tiers, Redis
restarted once, a purge a second; what must be 0 is 0."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from support.processes import ROOT

pytestmark = pytest.mark.system


def test_a_short_soak_serves_everything_without_a_stale_answer_or_a_key_without_ttl() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--seconds", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )

    report = result.stdout
    assert result.returncode == 0, report + result.stderr[-3000:]
    assert re.search(r"5xx answers +0 ", report)
    assert re.search(r"stale after a purge +0 ", report)
    assert re.search(r"Redis keys without a TTL +0 ", report)
    served = int(re.search(r"requests served +(\d+)", report).group(1))  # type: ignore[union-attr]
    acknowledged = int(re.search(r"purges acknowledged +(\d+)", report).group(1))  # type: ignore[union-attr]
    assert served > 1000 and acknowledged >= 5
