"""How each route is cached: its keywords, checked once, as a ``RoutePolicy`` (reads) or a
``WritePolicy`` (writes).

The middleware first sees a route on its first request (or at ``attach``), so a mistake in a
keyword fails there, loudly, naming the route and the keyword (``keywords.py``). Everything here
is plain values: no chocs, no storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..common.checks import check_flag
from ..common.memo import BoundedMemo
from . import keywords
from .credentials import Keeping, Lookup, keeping, lookups
from .group_names import GroupNames
from .observed import NOTHING_IGNORED, Ignored, ignored_inputs
from .observed import keying as keying_keyword
from .options import MiddlewareOptions

__all__ = ["RoutePolicy", "WritePolicy", "build_policy", "build_write_policy"]


MAX_SHAPES_PER_ROUTE = 64
MAX_SHAPE_FIELDS = 32
"""A route remembers its decisions for up to 64 shapes of answer of up to 32 header fields each."""


@dataclass(frozen=True)
class RoutePolicy:
    """How one route (path pattern and safe method) is cached."""

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
    options: MiddlewareOptions
    """What the middleware was configured with."""
    groups: GroupNames | None = None
    """``cache_groups``: the cache groups of the responses the route stores (RFC 9875)."""
    max_age: int | None = None
    """``cache_max_age``: the ``max-age`` advertised in the ``Cache-Control`` the cache adds (0:
    ``no-cache``); ``None``: the route's ``cache_expiry``."""
    selections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``cache_vary`` given as a mapping: for each of those headers, the values the route produces;
    a request is keyed by its best match among them, not by its raw header."""
    validate_variants: bool = False
    """``cache_validate_variants``: on a ``vary-miss``, ask the handler whether a response stored
    for other ``Accept*`` values will do (RFC 9111 §4.3.1); only for negotiation fields."""
    keying: str = "observed"
    """``cache_keying``: ``"observed"`` (keys made of what the handler read) or ``"declared"``."""
    ignored: Ignored = NOTHING_IGNORED
    """``cache_ignore``: inputs the handler reads that never go into a key."""
    anonymous_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request without ``Authorization`` is looked up (read on every hit: no call)."""
    authorized_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request with ``Authorization`` is looked up."""
    shapes: BoundedMemo[Any, Any] = field(init=False, repr=False, compare=False)
    """``admission.admit``'s decisions for the shapes of answer the route has given (status and
    fields, without the body), remembered: most routes answer with one or two."""

    def __post_init__(self) -> None:
        anonymous, authorized = lookups(self.vary, self.control)  # the credentials rule, for reading
        object.__setattr__(self, "anonymous_lookup", anonymous)
        object.__setattr__(self, "authorized_lookup", authorized)
        object.__setattr__(self, "shapes", BoundedMemo(None, MAX_SHAPES_PER_ROUTE, MAX_SHAPE_FIELDS))

    @property
    def stores(self) -> bool:
        return self.expiry > 0 or self.standards_mode

    @property
    def successful_statuses(self) -> frozenset[int]:
        return self.options.successful_responses

    @property
    def max_body_size(self) -> int:
        return self.options.max_body_size

    def lookup(self, has_authorization: bool) -> Lookup:
        """How a request with (or without) ``Authorization`` is looked up."""
        return self.authorized_lookup if has_authorization else self.anonymous_lookup

    def keeping(self, private: bool, explicitly_shareable: bool, has_authorization: bool) -> Keeping:
        """How a response is kept (RFC 9111 §3.5; ``credentials.keeping``, with the route's control)."""
        return keeping(self.control, private, explicitly_shareable, has_authorization)

    @property
    def vary_header(self) -> str:
        return ", ".join(self.vary)


@dataclass(frozen=True)
class WritePolicy:
    """How a route with an unsafe method invalidates (every such route does, RFC 9111 §4.4)."""

    route: str
    reads: RoutePolicy
    """How the stored representation of the route's path is looked up (its keywords, or the
    middleware's defaults): a write whose preconditions fail against it is refused without the
    handler (lost-update protection)."""
    invalidates: GroupNames | None
    """``cache_invalidates``: the groups a successful write invalidates, besides its path."""


def build_write_policy(route: str, attributes: Mapping[str, object], options: MiddlewareOptions) -> WritePolicy:
    """The invalidation policy of a route with an unsafe method."""
    keywords.reject_unknown_keywords(route, attributes)
    if attributes.get("cache_groups") is not None:
        raise ValueError(
            f"cache_groups on route {route!r} has no effect on a method whose responses are never stored; "
            f"a write names the groups it changes with cache_invalidates"
        )
    for keyword in keywords.STORING_KEYWORDS:
        if attributes.get(keyword) is not None:
            raise ValueError(
                f"{keyword} on route {route!r} has no effect on a write: responses to POST, PUT, PATCH and "
                f"DELETE are never stored (a successful one invalidates its path); put it on the GET route"
            )
    reads = build_policy(route, {**attributes, "cache_invalidates": None}, options)
    if reads is None:  # no cache keyword: the stored representation is looked up as the defaults say
        reads = build_policy(route, {"cache": True}, options)
        assert reads is not None
    invalidates = attributes.get("cache_invalidates")
    groups = None if invalidates is None else GroupNames(route, "cache_invalidates", invalidates)
    return WritePolicy(route, reads, groups)


def build_policy(route: str, attributes: Mapping[str, object], options: MiddlewareOptions) -> RoutePolicy | None:
    """The policy for a route with a safe method, or ``None`` when the route does not use the
    cache. Every ``cache_*`` keyword is checked, whether or not the route uses the cache."""
    keywords.reject_unknown_keywords(route, attributes)
    if attributes.get("cache_invalidates") is not None:
        raise ValueError(
            f"cache_invalidates on route {route!r} has no effect on a safe method (RFC 9875 §3); "
            f"put it on the route that changes the data, and cache_groups here"
        )
    expiry = keywords.seconds(route, "cache_expiry", attributes.get("cache_expiry"))
    enabled = check_flag(attributes.get("cache", False), f"cache on route {route!r}")
    vary, selections = keywords.vary(route, attributes.get("cache_vary"), options.cache_vary)
    groups = attributes.get("cache_groups")
    group_names = None if groups is None else GroupNames(route, "cache_groups", groups)
    advertised = _advertised(route, attributes.get("cache_max_age"), expiry)
    validate_variants = keywords.validate_variants(route, attributes.get("cache_validate_variants", False), vary)
    control = keywords.control(route, attributes.get("cache_control"))
    while_revalidating = attributes.get("cache_stale_while_revalidate")
    stale_while_revalidate = keywords.seconds(route, "cache_stale_while_revalidate", while_revalidating)
    stale_if_error = keywords.seconds(route, "cache_stale_if_error", attributes.get("cache_stale_if_error"))
    keying = keying_keyword(route, attributes.get("cache_keying"), options.keying)
    ignored = ignored_inputs(route, attributes.get("cache_ignore"))
    if expiry == 0 and not enabled:
        if groups is not None:
            raise ValueError(f"cache_groups on route {route!r} needs cache_expiry or cache=True: nothing is stored")
        return None
    return RoutePolicy(
        route=route,
        expiry=expiry,
        standards_mode=expiry == 0 and enabled,
        vary=vary,
        control=control,
        stale_while_revalidate=stale_while_revalidate,
        stale_if_error=stale_if_error,
        options=options,
        groups=group_names,
        max_age=advertised,
        selections=selections,
        validate_variants=validate_variants,
        keying=keying,
        ignored=ignored,
    )


def _advertised(route: str, max_age: object, expiry: int) -> int | None:
    """``cache_max_age``: what browsers and CDNs are told, when less than ``cache_expiry``."""
    if max_age is None:
        return None
    advertised = keywords.seconds(route, "cache_max_age", max_age)
    if expiry == 0:
        raise ValueError(
            f"cache_max_age on route {route!r} needs cache_expiry: it sets what the cache advertises "
            f"for the responses it keeps for cache_expiry seconds"
        )
    if advertised > expiry:
        raise ValueError(
            f"cache_max_age on route {route!r} is {advertised}, more than cache_expiry ({expiry}): it is what "
            f"browsers and CDNs are told when they may keep a response for less time than this cache; "
            f"leave it out to advertise cache_expiry itself"
        )
    return advertised
