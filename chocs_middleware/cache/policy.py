"""What the middleware and each route were configured with, checked once, and the credentials rule.

Middleware options are checked at construction. The middleware first sees a route on its first
request, so a mistake in a route keyword fails there, loudly, with a ``TypeError``/``ValueError``
that names the route and the keyword. Everything here is plain values: no chocs, no storage.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .cache_storage import ICacheStorage
from .checks import check_flag, check_number
from .entries import StoredResponse, VaryRecipe
from .semantics.vary import ANY, is_field_name

__all__ = [
    "CACHEABLE_METHODS",
    "Keeping",
    "Lookup",
    "MiddlewareOptions",
    "RoutePolicy",
    "build_options",
    "build_policy",
    "check_storage",
    "validate_vary",
]

ROUTE_KEYWORDS = (
    "cache",
    "cache_control",
    "cache_expiry",
    "cache_stale_if_error",
    "cache_stale_while_revalidate",
    "cache_vary",
)
CACHE_CONTROL_VALUES = ("public", "private")
CACHEABLE_METHODS = frozenset(("GET", "HEAD"))
"""The only methods whose responses the cache may answer (its keys do not include the method)."""


@dataclass(frozen=True)
class MiddlewareOptions:
    """``CacheMiddleware``'s options, checked; routes may override ``vary``."""

    vary: tuple[str, ...]
    safe_methods: frozenset[str]
    """Method names answered from the cache (a subset of ``CACHEABLE_METHODS``)."""
    successful_statuses: frozenset[int]
    max_body_size: int
    honour_request_cache_control: bool
    lock_timeout: float
    keep_stale: int = 3600
    """Seconds a stored response is kept after it goes stale, to be revalidated (0: forgotten)."""
    targeted_fields: tuple[str, ...] = ("chocs-cache-control",)
    """Targeted cache-control fields this cache obeys (RFC 9213), the first one present wins."""
    heuristic_fraction: float = 0.0
    """Heuristic freshness (RFC 9111 §4.2.2): this fraction of the time since ``Last-Modified``."""
    heuristic_max_lifetime: int = 86400
    background_revalidation: bool = True
    """A stale-while-revalidate refresh runs in the background (else the caller waits for it)."""


def build_options(
    vary: object,
    safe_methods: Iterable[object] | str,
    successful_responses: Iterable[object],
    *,
    max_body_size: object,
    honour_request_cache_control: object,
    lock_timeout: object,
    keep_stale: object = 3600,
    targeted_fields: object = ("chocs-cache-control",),
    heuristic_fraction: object = 0.0,
    heuristic_max_lifetime: object = 86400,
    background_revalidation: object = True,
) -> MiddlewareOptions:
    """The middleware's options, or the error that says which one is wrong and how."""
    return MiddlewareOptions(
        vary=validate_vary(vary, "CacheMiddleware(cache_vary=...)"),
        safe_methods=_safe_methods(safe_methods),
        successful_statuses=_status_codes(successful_responses),
        max_body_size=int(
            check_number(max_body_size, "CacheMiddleware(max_body_size=...)", unit="bytes", whole=True, minimum=0)
        ),
        honour_request_cache_control=check_flag(
            honour_request_cache_control, "CacheMiddleware(honour_request_cache_control=...)"
        ),
        lock_timeout=float(
            check_number(
                lock_timeout, "CacheMiddleware(lock_timeout=...)", unit="seconds", whole=False, minimum=0, above=True
            )
        ),
        keep_stale=int(
            check_number(keep_stale, "CacheMiddleware(keep_stale=...)", unit="seconds", whole=True, minimum=0)
        ),
        targeted_fields=validate_vary(targeted_fields, "CacheMiddleware(targeted_fields=...)"),
        heuristic_fraction=_fraction(heuristic_fraction, "CacheMiddleware(heuristic_fraction=...)"),
        heuristic_max_lifetime=int(
            check_number(
                heuristic_max_lifetime,
                "CacheMiddleware(heuristic_max_lifetime=...)",
                unit="seconds",
                whole=True,
                minimum=0,
            )
        ),
        background_revalidation=check_flag(background_revalidation, "CacheMiddleware(background_revalidation=...)"),
    )


def _fraction(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be a fraction such as 0.1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{where} must be a fraction from 0 to 1, got {value}")
    return float(value)


def check_storage(storage: object) -> None:
    """A storage instance with ``get`` and ``set``, or the error that says what was passed instead."""
    if isinstance(storage, type):
        raise TypeError(
            f"CacheMiddleware needs a storage instance, got the class {storage.__name__}; "
            f"write CacheMiddleware({storage.__name__}())"
        )
    if not isinstance(storage, ICacheStorage):
        raise TypeError(
            f"CacheMiddleware needs a storage with get(item_id) and set(item) methods, "
            f"got {storage!r} ({type(storage).__name__})"
        )


def _safe_methods(methods: Iterable[object] | str) -> frozenset[str]:
    if isinstance(methods, str):
        methods = [methods]
    names = frozenset(str(method).upper() for method in methods)  # HttpMethod members print as their name
    if not names <= CACHEABLE_METHODS:
        other = ", ".join(sorted(names - CACHEABLE_METHODS))
        raise ValueError(
            f"CacheMiddleware(safe_methods=...) may only contain GET and HEAD (responses to other "
            f"methods are never served from the cache), got {other}"
        )
    return names


def _status_codes(statuses: Iterable[object]) -> frozenset[int]:
    codes = []
    for status in statuses:
        # An int, or anything that converts to one as chocs' HttpStatus members do; not text or fractions.
        if isinstance(status, (bool, str, bytes, float)) or not hasattr(status, "__int__"):
            raise TypeError(f"CacheMiddleware(successful_responses=...) must hold statuses, got {status!r}")
        codes.append(int(status))
    return frozenset(codes)


class Lookup(NamedTuple):
    """How to look up the stored response for a request: the credentials rule, for reading."""

    recipe: VaryRecipe
    """The recipe the request's response is most likely stored under (a guess that saves a read)."""
    shared_allowed: bool
    """Whether a shared response that is not explicitly shareable may answer the request."""

    def may_serve(self, recipe: VaryRecipe, stored: StoredResponse) -> bool:
        """Whether ``stored``, kept under ``recipe``, may answer the request: one kept per
        credentials was found with the request's own; a shared one only when the request may have
        shared responses or the response is explicitly shareable."""
        return self.shared_allowed or recipe.per_credentials or stored.public


class Keeping(NamedTuple):
    """How a response is kept: the credentials rule, for storing."""

    per_credentials: bool
    """Kept under the request's credentials, served back only to them."""
    public: bool
    """Explicitly shareable: may answer requests with credentials of their own."""


@dataclass(frozen=True)
class RoutePolicy:
    """How one route (path pattern and method) is cached."""

    route: str
    """The route's path pattern, as registered (``/users/{user_id}``): names it in errors and logs."""
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
    options: MiddlewareOptions
    """What the middleware was configured with."""
    anonymous_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request without ``Authorization`` is looked up (read on every hit: no call)."""
    authorized_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request with ``Authorization`` is looked up."""

    def __post_init__(self) -> None:
        # The credentials rule of docs/security.md, for reading: a request with credentials, on a
        # route that is not public, is looked up per credentials and gets a shared response only
        # when it is explicitly shareable. A private route keeps everything per credentials.
        shared = VaryRecipe(tuple(sorted(self.vary)))
        per_credentials = VaryRecipe(shared.field_names, per_credentials=True)
        anonymous = Lookup(per_credentials if self.control == "private" else shared, True)
        authorized = anonymous if self.control == "public" else Lookup(per_credentials, False)
        object.__setattr__(self, "anonymous_lookup", anonymous)
        object.__setattr__(self, "authorized_lookup", authorized)

    @property
    def stores(self) -> bool:
        return self.expiry > 0 or self.standards_mode

    def lookup(self, has_authorization: bool) -> Lookup:
        """How a request with (or without) ``Authorization`` is looked up."""
        return self.authorized_lookup if has_authorization else self.anonymous_lookup

    def keeping(self, private: bool, explicitly_shareable: bool, has_authorization: bool) -> Keeping:
        """How a response is kept (RFC 9111 §3.5): ``private`` (the response's or the route's) keeps
        it per credentials; a response to a request with ``Authorization`` is kept for those
        credentials too, unless it is explicitly shareable (``public``, ``s-maxage``, a public route)."""
        private = private or self.control == "private"
        public = not private and (self.control == "public" or explicitly_shareable)
        return Keeping(per_credentials=private or (has_authorization and not public), public=public)

    @property
    def vary_header(self) -> str:
        return ", ".join(self.vary)


def build_policy(route: str, attributes: Mapping[str, object], options: MiddlewareOptions) -> RoutePolicy | None:
    """The policy for a route, or ``None`` when the route does not use the cache."""
    _reject_unknown_keywords(route, attributes)
    expiry = _seconds(route, "cache_expiry", attributes.get("cache_expiry"))
    enabled = check_flag(attributes.get("cache", False), f"cache on route {route!r}")
    if expiry == 0 and not enabled:
        return None
    vary = attributes.get("cache_vary")
    return RoutePolicy(
        route=route,
        expiry=expiry,
        standards_mode=expiry == 0 and enabled,
        vary=options.vary if vary is None else validate_vary(vary, f"cache_vary on route {route!r}"),
        control=_control(route, attributes.get("cache_control")),
        stale_while_revalidate=_seconds(
            route, "cache_stale_while_revalidate", attributes.get("cache_stale_while_revalidate")
        ),
        stale_if_error=_seconds(route, "cache_stale_if_error", attributes.get("cache_stale_if_error")),
        successful_statuses=options.successful_statuses,
        max_body_size=options.max_body_size,
        options=options,
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
    return int(check_number(value, f"{keyword} on route {route!r}", unit="seconds", whole=True, minimum=0))


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
