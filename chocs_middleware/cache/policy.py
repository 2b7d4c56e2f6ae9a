"""Route keywords, validated once per route and turned into a ``RoutePolicy``.

The middleware first sees a route on its first request, so a mistake in a keyword fails there,
loudly, with a ``TypeError``/``ValueError`` that names the route and the keyword.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from .entries import VaryRecipe
from .semantics.vary import ANY, is_field_name

__all__ = ["PolicyDefaults", "RoutePolicy", "build_policy", "validate_vary"]

ROUTE_KEYWORDS = (
    "cache",
    "cache_control",
    "cache_expiry",
    "cache_stale_if_error",
    "cache_stale_while_revalidate",
    "cache_vary",
)
CACHE_CONTROL_VALUES = ("public", "private")


@dataclass(frozen=True)
class PolicyDefaults:
    """What the middleware was constructed with; routes may override ``vary``."""

    vary: tuple[str, ...]
    successful_statuses: frozenset[int]
    max_body_size: int


class Lookup(NamedTuple):
    recipe: VaryRecipe
    """The recipe the request's response is most likely stored under (a guess that saves a read)."""
    shared_allowed: bool
    """Whether a shared response that is not explicitly shareable may answer the request."""


@dataclass(frozen=True)
class RoutePolicy:
    """How one route (path pattern and method) is cached."""

    route: str
    """The route's path pattern, as registered (``/users/{user_id}``)."""
    expiry: int
    """``cache_expiry``: seconds a stored response stays fresh, unless its own headers say."""
    standards_mode: bool
    """``cache=True`` on a route without ``cache_expiry``: a response is stored for exactly as
    long as its own ``Cache-Control`` / ``Expires`` make it fresh."""
    vary: tuple[str, ...]
    control: str | None
    """``cache_control``: ``"public"``, ``"private"`` or unset."""
    stale_while_revalidate: int
    """``cache_stale_while_revalidate``: seconds a stale response is served while one caller
    refreshes it; a response's own ``stale-while-revalidate`` wins."""
    stale_if_error: int
    """``cache_stale_if_error``: seconds a stale response is served when the handler fails; a
    response's own ``stale-if-error`` wins."""
    successful_statuses: frozenset[int]
    max_body_size: int

    @property
    def stores(self) -> bool:
        return self.expiry > 0 or self.standards_mode

    @cached_property
    def shared_recipe(self) -> VaryRecipe:
        """The variant recipe of a shared response that adds no ``Vary`` of its own."""
        return VaryRecipe(tuple(sorted(self.vary)))

    @cached_property
    def credentials_recipe(self) -> VaryRecipe:
        """The same, for responses kept per user."""
        return VaryRecipe(tuple(sorted(self.vary)), per_credentials=True)

    @cached_property
    def lookups(self) -> tuple[Lookup, Lookup]:
        """How to look up a request without (``[False]``) and with (``[True]``) ``Authorization``.

        The one place of the rule in ``docs/security.md``: a request with credentials, on a route
        that is not public, is looked up per credentials, and gets a shared response only when it
        is explicitly shareable. A private route keeps everything per credentials.
        """
        anonymous = Lookup(self.credentials_recipe if self.control == "private" else self.shared_recipe, True)
        if self.control == "public":
            return anonymous, anonymous
        return anonymous, Lookup(self.credentials_recipe, False)

    @property
    def vary_header(self) -> str:
        return ", ".join(self.vary)


def build_policy(route: str, attributes: Mapping[str, object], defaults: PolicyDefaults) -> RoutePolicy | None:
    """The policy for a route, or ``None`` when the route does not use the cache."""
    _reject_unknown_keywords(route, attributes)
    expiry = _seconds(route, "cache_expiry", attributes.get("cache_expiry"))
    enabled = attributes.get("cache", False)
    if not isinstance(enabled, bool):
        raise TypeError(f"cache on route {route!r} must be True or False, got {enabled!r}")
    if expiry == 0 and not enabled:
        return None
    vary = attributes.get("cache_vary")
    return RoutePolicy(
        route=route,
        expiry=expiry,
        standards_mode=expiry == 0 and enabled,
        vary=defaults.vary if vary is None else validate_vary(vary, f"cache_vary on route {route!r}"),
        control=_control(route, attributes.get("cache_control")),
        stale_while_revalidate=_seconds(
            route, "cache_stale_while_revalidate", attributes.get("cache_stale_while_revalidate")
        ),
        stale_if_error=_seconds(route, "cache_stale_if_error", attributes.get("cache_stale_if_error")),
        successful_statuses=defaults.successful_statuses,
        max_body_size=defaults.max_body_size,
    )


def validate_vary(value: object, where: str) -> tuple[str, ...]:
    """Header names from a tuple, list, set or one comma-separated string, lower-cased.

    ``where`` starts the error messages (``"cache_vary on route '/users'"``).
    """
    if isinstance(value, str):
        names: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (tuple, list, set, frozenset)):
        names = list(value)
    else:
        raise TypeError(
            f"{where} must be header names as a tuple, list, set or string, got {value!r} ({type(value).__name__})"
        )
    if len(names) > 1 and all(isinstance(name, str) and len(name) == 1 for name in names):
        raise ValueError(
            f"{where} is a collection of single characters ({value!r}), which is what "
            f'set("accept-language") gives; write the header names as a tuple: '
            f'cache_vary=("accept-language",) or as one string: cache_vary="accept-language"'
        )
    result: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{where} must contain header names (str), got {name!r}")
        if name == ANY:
            raise ValueError(f'{where} cannot contain "*": a response that varies on everything is never stored')
        if not is_field_name(name):
            raise ValueError(f"{where} contains {name!r}, which is not a valid header name")
        if name.lower() not in result:
            result.append(name.lower())
    return tuple(result)


def _seconds(route: str, keyword: str, value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{keyword} on route {route!r} must be whole seconds, got {value}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{keyword} on route {route!r} must be a whole number of seconds, got {value!r} ({type(value).__name__})"
        )
    if value < 0:
        raise ValueError(f"{keyword} on route {route!r} must be 0 or more seconds, got {value}")
    return value


def _control(route: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    if value.lower() not in CACHE_CONTROL_VALUES:
        raise ValueError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    return value.lower()


def _reject_unknown_keywords(route: str, attributes: Iterable[str]) -> None:
    for keyword in attributes:
        if keyword.startswith("cache") and keyword not in ROUTE_KEYWORDS:
            close = difflib.get_close_matches(keyword, ROUTE_KEYWORDS, n=1)
            known = ", ".join(ROUTE_KEYWORDS)
            hint = f"; did you mean {close[0]}?" if close else f"; known keywords: {known}"
            raise ValueError(f"unknown keyword {keyword} on route {route!r}{hint}")
