"""The ``Cache-Status`` response header (RFC 9211), which says what the cache did."""

from __future__ import annotations

from functools import lru_cache

__all__ = ["CACHE_NAME", "forwarded", "hit"]

CACHE_NAME = "chocs-cache"


@lru_cache(maxsize=4096)
def hit(ttl: int, detail: str | None = None) -> str:
    """Answered from storage; ``ttl`` is the freshness left in seconds (RFC 9211 §2.1, §2.5)."""
    return f"{CACHE_NAME}; hit; ttl={ttl}" + (f"; detail={detail}" if detail else "")


def forwarded(
    reason: str,
    status: int | None = None,
    stored: bool = False,
    detail: str | None = None,
    ttl: int | None = None,
    collapsed: bool = False,
) -> str:
    """Not a fresh hit. ``reason`` is an RFC 9211 §2.2 ``fwd`` value: ``uri-miss`` (nothing stored
    for the URI), ``vary-miss`` (nothing for this variant), ``stale``, ``request``, ``method``.
    ``status`` is what the handler answered, ``ttl`` the freshness left (negative when a stale
    response is served), ``collapsed`` that the request waited for another one's answer.
    """
    parts = [CACHE_NAME, f"fwd={reason}"]
    if status is not None:
        parts.append(f"fwd-status={status}")
    if ttl is not None:
        parts.append(f"ttl={ttl}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if detail:
        parts.append(f"detail={detail}")
    return "; ".join(parts)
