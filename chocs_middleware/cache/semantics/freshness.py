"""How long a response stays fresh, and whether a shared cache may keep it (RFC 9111 §3, §4.2)."""

from __future__ import annotations

from .cache_control import CacheControl
from .dates import parse_http_date

__all__ = ["explicitly_shareable", "freshness_lifetime", "request_allows_reuse"]


def freshness_lifetime(
    response: CacheControl, expires: str | None, date: str | None, now: float, default: int
) -> tuple[int, bool]:
    """The freshness lifetime in seconds, and whether the response's own headers gave it.

    RFC 9111 §4.2.1 for a shared cache: ``s-maxage``, else ``max-age``, else ``Expires`` minus
    ``Date`` (``now`` when there is no valid ``Date``); an invalid ``Expires`` means already
    expired. Without any of them, ``default`` (the route's ``cache_expiry``) applies.
    """
    for directive in ("s-maxage", "max-age"):
        seconds = response.seconds(directive)
        if seconds is not None:
            return seconds, True
    if expires is not None:
        expires_at = parse_http_date(expires)
        if expires_at is None:
            return 0, True
        generated_at = (parse_http_date(date) if date else None) or now
        return max(0, int(expires_at - generated_at)), True
    return default, False


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
