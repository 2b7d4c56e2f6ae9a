"""The ``Cache-Status`` response header (RFC 9211), which says what the cache did."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["CACHE_NAME", "forwarded", "hit"]

CACHE_NAME = "chocs-cache"


@lru_cache(maxsize=4096)
def hit(ttl: int, detail: str | None = None) -> str:
    """Answered from storage; ``ttl`` is the freshness left in seconds (RFC 9211 §2.1, §2.5)."""
    return f"{CACHE_NAME}; hit; ttl={ttl}" + (f"; detail={detail}" if detail else "")


def forwarded(reason: str, status: int | None = None, stored: bool = False, detail: str | None = None) -> str:
    """Sent to the handler. ``reason`` is an RFC 9211 §2.2 ``fwd`` value: ``uri-miss`` (nothing
    stored for the URI), ``vary-miss`` (nothing for this variant), ``stale``, ``method``, ``bypass``.
    """
    parts = [CACHE_NAME, f"fwd={reason}"]
    if status is not None:
        parts.append(f"fwd-status={status}")
    if stored:
        parts.append("stored")
    if detail:
        parts.append(f"detail={detail}")
    return "; ".join(parts)
