"""Under load, no read that starts after a write completed returns an older version
(``python -m benchmarks.consistency`` runs the same check longer, and prints the counts)."""

from __future__ import annotations

import pytest

from benchmarks.consistency import SETUPS, load

pytestmark = pytest.mark.system


@pytest.mark.parametrize("setup", SETUPS)
def test_no_read_after_a_completed_write_returns_an_older_version(setup: str) -> None:
    with SETUPS[setup](0.01) as ports:
        outcome = load(ports, seconds=2.0, readers=6)

    assert outcome.writes >= 20
    assert outcome.reads >= 50
    assert outcome.stale_reads == 0
