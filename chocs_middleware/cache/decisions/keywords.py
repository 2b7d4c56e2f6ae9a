"""Route keywords, one check each: a mistake raises an error that names the route and the keyword
and says what to write instead; keywords that are valid but do nothing are advice, said once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from ..common.checks import check_flag, check_number
from ..semantics.cache_control import MAX_DELTA_SECONDS
from .credentials import NEGOTIATION_FIELDS
from .options import validate_vary

__all__ = [
    "ROUTE_KEYWORDS",
    "STORING_KEYWORDS",
    "advice",
    "control",
    "reject_unknown_keywords",
    "seconds",
    "validate_variants",
    "vary",
]

ROUTE_KEYWORDS = (
    "cache",
    "cache_control",
    "cache_expiry",
    "cache_groups",
    "cache_ignore",
    "cache_invalidates",
    "cache_keying",
    "cache_max_age",
    "cache_stale_if_error",
    "cache_stale_while_revalidate",
    "cache_validate_variants",
    "cache_vary",
)
CACHE_CONTROL_VALUES = ("public", "private")
STORING_KEYWORDS = ("cache_expiry", "cache_max_age", "cache_stale_while_revalidate", "cache_stale_if_error")
"""Keywords about how long responses are kept, which mean nothing on a write."""
INERT_WITHOUT_STORING = (
    "cache_control",
    "cache_vary",
    "cache_ignore",
    "cache_keying",
    "cache_stale_while_revalidate",
    "cache_stale_if_error",
)
"""Keywords that mean something only on a route that stores (``cache_expiry`` or ``cache=True``)."""
KEYWORD_ALIASES = {
    "cache_ttl": "cache_expiry",
    "cache_timeout": "cache_expiry",
    "cache_expires": "cache_expiry",
    "cache_seconds": "cache_expiry",
    "cache_maxage": "cache_max_age",
    "cache_tags": "cache_groups",
    "cache_keys": "cache_vary",
    "cache_ignored": "cache_ignore",
    "cache_key": "cache_keying",
    "timeout": "cache_expiry",
    "ttl": "cache_expiry",
    "max_age": "cache_expiry",
    "expiry": "cache_expiry",
    "expires": "cache_expiry",
    "invalidates": "cache_invalidates",
    "invalidate": "cache_invalidates",
    "cache_invalidate": "cache_invalidates",
    "groups": "cache_groups",
    "tags": "cache_groups",
    "vary": "cache_vary",
    "stale_while_revalidate": "cache_stale_while_revalidate",
    "stale_if_error": "cache_stale_if_error",
}
"""Other libraries' names (Flask-Caching's ``timeout``, ...) and near misses, with ours."""


def seconds(route: str, keyword: str, value: object) -> int:
    """A number of seconds, at most 2^31 (as a response's own lifetimes are, RFC 9111 §1.2.2)."""
    if value is None:
        return 0
    checked = check_number(value, f"{keyword} on route {route!r}", unit="seconds", whole=True, minimum=0)
    return int(min(checked, MAX_DELTA_SECONDS))


def control(route: str, value: object) -> str | None:
    """``cache_control``: ``"public"``, ``"private"`` or unset."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    if value.lower() not in CACHE_CONTROL_VALUES:
        raise ValueError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    return value.lower()


def vary(
    route: str, value: object, default: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """``cache_vary`` as header names (``default`` when unset), and for those given as a mapping the
    values the route produces (a request is keyed by the best match among them, RFC 9110 §12.5)."""
    if value is None:
        return default, ()
    where = f"cache_vary on route {route!r}"
    if not isinstance(value, Mapping):
        return validate_vary(value, where), ()
    names = validate_vary(list(value), where)
    selections = []
    for name, produced in zip(names, value.values()):
        if produced is None:
            continue
        if isinstance(produced, str):
            produced = (produced,)
        if (
            not isinstance(produced, (tuple, list))
            or not produced
            or not all(isinstance(item, str) and item.strip() for item in produced)
        ):
            raise TypeError(
                f"{where}: the values of {name} must be what the route produces, as a tuple of strings such as "
                f'("en", "de"), or None to vary on the raw header; got {produced!r}'
            )
        selections.append((name, tuple(item.strip() for item in produced)))
    return names, tuple(selections)


def validate_variants(route: str, value: object, varies_on: tuple[str, ...]) -> bool:
    """``cache_validate_variants``: only for routes whose variants differ by content negotiation."""
    where = f"cache_validate_variants on route {route!r}"
    if not check_flag(value, where):
        return False
    others = [name for name in varies_on if name not in NEGOTIATION_FIELDS]
    if others:
        raise ValueError(
            f"{where} needs a cache_vary of Accept fields only ({', '.join(sorted(NEGOTIATION_FIELDS))}); "
            f"it varies on {', '.join(others)}, which may identify a user: a response stored for one of them "
            f"must never be confirmed for another"
        )
    return True


def reject_unknown_keywords(route: str, attributes: Iterable[str]) -> None:
    for keyword in attributes:
        if keyword.startswith("cache") and keyword not in ROUTE_KEYWORDS:
            close = KEYWORD_ALIASES.get(keyword) or next(
                iter(difflib.get_close_matches(keyword, ROUTE_KEYWORDS, n=1)), None
            )
            known = ", ".join(ROUTE_KEYWORDS)
            hint = f"; did you mean {close}?" if close else f"; known keywords: {known}"
            raise ValueError(f"unknown keyword {keyword} on route {route!r}{hint}")


def advice(route: str, attributes: Mapping[str, object], stores: bool) -> list[str]:
    """What to tell the author of a route whose keywords are valid but do not do what they seem:
    caching keywords on a route that stores nothing, and other libraries' names for ours."""
    said = []
    inert = [keyword for keyword in INERT_WITHOUT_STORING if attributes.get(keyword) is not None]
    if inert and not stores:
        said.append(
            f"route {route!r} has {', '.join(inert)} but neither cache_expiry nor cache=True, so nothing is "
            f"cached: add cache_expiry=<seconds> (or cache=True when the handler sets its own Cache-Control)"
        )
    for keyword in attributes:
        suggestion = KEYWORD_ALIASES.get(keyword)
        if suggestion is not None and not keyword.startswith("cache"):
            said.append(f"route {route!r} has {keyword}, which chocs-cache does not read; did you mean {suggestion}?")
    return said
