"""Whether a handler's answer to ``GET`` is stored, and how: RFC 9111 §3 for a shared cache.

The handler decides per response (``no-store``, ``private``, ``no-cache``, ``s-maxage``,
``max-age``, ``Expires``); the route's keywords fill in what the response leaves open. One pure
function, ``admit``, takes the answer as plain values and returns ``Admitted`` (what to keep,
under which recipe, and the headers the cache adds) or ``Refused`` (why not, as a
``Cache-Status`` detail). Writing the added headers back to the response is the adapter's job.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from .entries import HeaderFields, StoredResponse, UpstreamResponse, VaryRecipe
from .policy import RoutePolicy
from .semantics.cache_control import CacheControl, parse_cache_control
from .semantics.dates import format_http_date
from .semantics.entity_tags import generate_entity_tag
from .semantics.freshness import explicitly_shareable, freshness_lifetime
from .semantics.vary import ANY, merge_field_names, parse_vary

__all__ = ["Admission", "Admitted", "Refused", "admit"]

NEVER_STORED = frozenset((206, 304, 412))
"""Partial content, and the handler's own conditional answers: never a representation to keep."""
NOT_STORED_FIELDS = frozenset(("age", "cache-status"))
"""Made anew for every response that leaves the cache."""


class Refused(NamedTuple):
    """The answer is not stored."""

    reason: str
    """Why, as a ``Cache-Status`` detail (``no-store``, ``set-cookie``, ...)."""
    added: HeaderFields = ()
    """Headers the answer still gets: a cacheable answer that this cache may not keep (``private``
    with no credentials to keep it under) still tells the client how it may be cached."""


class Admitted(NamedTuple):
    """The answer is stored as ``stored``, selected by ``recipe``."""

    recipe: VaryRecipe
    stored: StoredResponse
    """Its generation is left empty: the entry store sets it."""
    added: HeaderFields
    """Headers the cache adds to the answer (and stores with it), in this order, at the end."""


Admission = Union[Admitted, Refused]


def admit(
    upstream: UpstreamResponse,
    policy: RoutePolicy,
    now: float,
    *,
    has_authorization: bool,
    has_credentials: bool,
) -> Admission:
    """Whether and how ``upstream``, the handler's answer to a ``GET``, is kept.

    ``has_authorization`` / ``has_credentials``: the request carried ``Authorization`` / any of
    ``Authorization`` and ``Cookie`` (see ``RoutePolicy.keeping``).
    """
    if not policy.stores:
        return Refused("no-lifetime")
    status = upstream.status
    if status not in policy.successful_statuses or status in NEVER_STORED or status >= 500:
        return Refused("status")
    if upstream.sets_cookie:
        return Refused("set-cookie")  # someone's session must never reach someone else
    directives = parse_cache_control(upstream.values("cache-control"))
    if directives.no_store:
        return Refused("no-store")
    vary = parse_vary(upstream.values("vary"))
    if ANY in vary:
        return Refused("vary-star")
    if upstream.size > policy.max_body_size:
        return Refused("too-large")
    lifetime, from_response = freshness_lifetime(
        directives, upstream.first("expires"), upstream.first("date"), now, policy.expiry
    )
    if lifetime <= 0:
        return Refused("no-lifetime")

    keeping = policy.keeping(directives.private, explicitly_shareable(directives), has_authorization)
    added = _added_fields(upstream, policy, lifetime if not from_response else None, keeping.per_credentials, now)
    if keeping.per_credentials and not has_credentials:
        return Refused("private", added)  # no one to keep it for
    stored = StoredResponse(
        status=status,
        headers=tuple(field for field in upstream.fields if field[0] not in NOT_STORED_FIELDS) + added,
        body=upstream.body,
        stored_at=now,
        lifetime=lifetime,
        public=keeping.public,
        no_cache=directives.no_cache,
        stale_while_revalidate=_stale_window(directives, "stale-while-revalidate", policy.stale_while_revalidate),
        stale_if_error=_stale_window(directives, "stale-if-error", policy.stale_if_error),
    )
    recipe = VaryRecipe(tuple(sorted(merge_field_names(policy.vary, vary))), keeping.per_credentials)
    return Admitted(recipe, stored, added)


def _added_fields(
    upstream: UpstreamResponse, policy: RoutePolicy, route_lifetime: int | None, per_credentials: bool, now: float
) -> HeaderFields:
    """What a cacheable answer gets when the handler did not set it (a handler's own header is
    never overwritten): ``Cache-Control`` when the route's expiry gave the lifetime, ``Vary`` with
    the route's headers, ``Date``, and the validators (``ETag`` from the body, ``Last-Modified``)."""
    present = {name for name, _ in upstream.fields}
    added: list[tuple[str, tuple[str, ...]]] = []
    if "cache-control" not in present and route_lifetime is not None:
        scope = "private, " if per_credentials else "public, " if policy.control == "public" else ""
        added.append(("cache-control", (f"{scope}max-age={route_lifetime}",)))
    if "vary" not in present and policy.vary:
        added.append(("vary", (policy.vary_header,)))
    generated_at = format_http_date(now)
    if "date" not in present:
        added.append(("date", (generated_at,)))
    if "etag" not in present:
        added.append(("etag", (generate_entity_tag(upstream.body),)))
    if "last-modified" not in present:
        added.append(("last-modified", (generated_at,)))
    return tuple(added)


def _stale_window(directives: CacheControl, name: str, route_default: int) -> int:
    """Seconds a stale response may still be served (RFC 5861), 0 where RFC 9111 §4.2.4 forbids it.

    ``no-cache``, ``must-revalidate`` and ``proxy-revalidate`` forbid serving stale. A window the
    response states itself is explicit permission and wins over the route's; ``s-maxage`` (which
    implies ``proxy-revalidate`` for a shared cache) cancels the route's default.
    """
    if directives.no_cache or directives.has("must-revalidate") or directives.has("proxy-revalidate"):
        return 0
    stated = directives.seconds(name)
    if stated is not None:
        return stated
    return 0 if directives.has("s-maxage") else route_default
