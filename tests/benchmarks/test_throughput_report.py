"""``make bench``'s throughput rows (``benchmarks/bench.py``): a busy machine gets a report, not a traceback."""

from __future__ import annotations

from benchmarks.bench import tier_ratio


def test_the_tier_ratio_is_the_tiered_rate_over_the_in_memory_rate() -> None:
    assert tier_ratio({"/memory": 200.0, "/tiered": 190.0}) == "0.95 (target >= 0.9): met"
    assert tier_ratio({"/memory": 200.0, "/tiered": 100.0}) == "0.50 (target >= 0.9): NOT met"


def test_no_in_memory_hit_completed_is_reported_instead_of_dividing_by_zero() -> None:
    assert tier_ratio({"/memory": 0.0, "/tiered": 12.0}).startswith("not measured: no in-memory hit completed")
