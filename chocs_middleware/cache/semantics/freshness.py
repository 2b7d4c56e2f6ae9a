"""How long a response stays fresh, how old it already is, and whether a shared cache may keep it
(RFC 9111 §3, §4.2, §5.1, §5.3)."""

from __future__ import annotations

from collections.abc import Sequence

from .cache_control import MAX_DELTA_SECONDS, CacheControl
from .dates import parse_http_date

__all__ = [
    "HEURISTICALLY_CACHEABLE",
    "UNDERSTOOD_STATUSES",
    "corrected_initial_age",
    "explicitly_shareable",
    "freshness_lifetime",
    "heuristic_lifetime",
    "parse_age",
    "request_allows_reuse",
]

HEURISTICALLY_CACHEABLE = frozenset((200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501))
"""Statuses RFC 9110 §15.1 makes heuristically cacheable."""
UNDERSTOOD_STATUSES = frozenset(
    (*range(200, 207), *range(300, 306), 307, 308, *range(400, 418), 421, 422, 426, *range(500, 506))
)
"""The final statuses RFC 9110 defines, whose caching requirements this cache knows (the
``must-understand`` directive, RFC 9111 §5.2.2.3)."""


def freshness_lifetime(
    response: CacheControl, expires: str | Sequence[str] | None, date: str | None, now: float, default: int
) -> tuple[int, bool]:
    """The freshness lifetime in seconds, and whether the response's own headers gave it.

    RFC 9111 §4.2.1 for a shared cache: ``s-maxage``, else ``max-age``, else ``Expires`` minus
    ``Date`` (``now`` when there is no valid ``Date``). An invalid ``Expires``, or one given on
    several lines, means already expired (§5.3). Without any of them, ``default`` (the route's
    ``cache_expiry``) applies. Lifetimes are capped at 2^31 seconds (§1.2.2).
    """
    for directive in ("s-maxage", "max-age"):
        seconds = response.seconds(directive)
        if seconds is not None:
            return seconds, True
    if expires is not None:
        lines = [expires] if isinstance(expires, str) else list(expires)
        expires_at = parse_http_date(lines[0]) if len(lines) == 1 else None
        if expires_at is None:
            return 0, True
        generated_at = (parse_http_date(date) if date else None) or now
        return min(MAX_DELTA_SECONDS, max(0, int(expires_at - generated_at))), True
    return default, False


def parse_age(lines: Sequence[str]) -> int | None:
    """The ``Age`` of a response (RFC 9111 §5.1): the first value on its first line, when it is a
    non-negative integer (capped at 2^31); ``None`` when absent or invalid, and then ignored."""
    if not lines:
        return None
    first = lines[0].split(",", 1)[0].strip(" \t")
    if not first.isdigit() or not first.isascii():
        return None
    return min(int(first), MAX_DELTA_SECONDS)


def corrected_initial_age(age: int | None, date: str | None, request_time: float, response_time: float) -> float:
    """How old a response already was when it arrived (RFC 9111 §4.2.3): the larger of its apparent
    age (arrival minus its ``Date``) and its ``Age`` plus the time it took to arrive."""
    date_value = parse_http_date(date) if date else None
    apparent_age = max(0.0, response_time - date_value) if date_value is not None else 0.0
    corrected_age_value = (age or 0) + max(0.0, response_time - request_time)
    return max(apparent_age, corrected_age_value) if age is not None else apparent_age


def heuristic_lifetime(last_modified: str | None, date: str | None, now: float, fraction: float, cap: int) -> int:
    """A lifetime guessed from how long the representation has gone unchanged (RFC 9111 §4.2.2):
    ``fraction`` of the time since ``Last-Modified``, at most ``cap`` seconds; 0 without one."""
    modified_at = parse_http_date(last_modified) if last_modified else None
    if modified_at is None:
        return 0
    generated_at = (parse_http_date(date) if date else None) or now
    return max(0, min(cap, int((generated_at - modified_at) * fraction)))


def explicitly_shareable(response: CacheControl) -> bool:
    """``public`` or ``s-maxage``: a response to a request with ``Authorization`` may be shared
    (RFC 9111 §3.5)."""
    return response.public or response.has("s-maxage")


def request_allows_reuse(request: CacheControl, age: int, lifetime: int) -> bool:
    """Whether the request's own directives accept a fresh stored response (RFC 9111 §5.2.1).

    ``no-cache`` refuses it; ``max-age=N`` refuses one older than N seconds, and ``max-age=0``
    every one (it is how clients ask for revalidation); ``min-fresh=N`` refuses one with less
    than N seconds of freshness left.
    """
    if request.no_cache:
        return False
    max_age = request.seconds("max-age")
    if max_age is not None and (max_age == 0 or age > max_age):
        return False
    min_fresh = request.seconds("min-fresh")
    return min_fresh is None or lifetime - age >= min_fresh
