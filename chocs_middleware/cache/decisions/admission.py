"""Whether a handler's answer to ``GET`` is stored, and how: RFC 9111 §3 for a shared cache.

The handler decides per response (``no-store``, ``private``, ``no-cache``, ``s-maxage``,
``max-age``, ``Expires``); the route's keywords fill in what the response leaves open. One pure
function, ``admit``, takes the answer as plain values and returns ``Admitted`` (what to keep,
under which recipe, and the headers the cache adds) or ``Refused`` (why not, as a
``Cache-Status`` detail). Writing the added headers back to the response is the adapter's job.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from ..semantics.cache_control import CacheControl, parse_cache_control, parse_targeted_cache_control
from ..semantics.dates import format_http_date
from ..semantics.entity_tags import generate_entity_tag
from ..semantics.freshness import (
    HEURISTICALLY_CACHEABLE,
    UNDERSTOOD_STATUSES,
    corrected_initial_age,
    explicitly_shareable,
    freshness_lifetime,
    heuristic_lifetime,
    parse_age,
)
from ..semantics.vary import ANY, merge_field_names, parse_vary
from .credentials import Keeping
from .observed import ReadInputs, observed_recipe
from .routes import RoutePolicy
from .values import HeaderFields, StoredResponse, UpstreamResponse, VaryRecipe

__all__ = ["Admission", "Admitted", "Refused", "admit"]

NEVER_STORED = frozenset((206, 304, 412))
"""Partial content, and the handler's own conditional answers: never a representation to keep."""
NOT_STORED_FIELDS = frozenset(
    (
        "age",
        "cache-status",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authentication-info",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    )
)
"""Made anew for every response that leaves the cache (``Content-Length`` from the stored body), or
about one connection or one proxy only (RFC 9110 §7.6.1, RFC 9111 §3.1)."""


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


class _Shape(NamedTuple):
    """What ``admit`` decides from the route and the answer's status and fields alone: the same for
    every answer of that shape, so a route remembers it (``RoutePolicy.shapes``), unless a field
    whose meaning depends on the clock is present (``_TIMED_FIELDS``)."""

    refused: Refused | None
    """Refused whatever the body's size."""
    refused_if_small: Refused | None
    """Refused, for a reason that comes after the size in ``admit``'s order (``Cache-Status``
    names the first)."""
    recipe: VaryRecipe
    lifetime: int
    added: HeaderFields
    """``Cache-Control`` and ``Vary`` as the cache adds them (before the validators)."""
    kept: HeaderFields
    """The answer's fields as they are stored, ``added`` included."""
    validators: tuple[bool, bool, bool]
    """Whether the cache adds ``Date``, ``ETag`` and ``Last-Modified`` (those the answer lacks)."""
    keeping: Keeping
    no_cache: bool
    stale_while_revalidate: int
    stale_if_error: int
    advertised: bool
    """The cache writes the ``Cache-Control`` (``StoredResponse.advertised``)."""
    per_user: bool
    """Kept for one user (``StoredResponse.per_user``)."""


_TIMED_FIELDS = frozenset(("age", "date", "expires", "last-modified"))
"""Fields whose meaning depends on the clock: an answer with any of them is decided afresh."""


def admit(
    upstream: UpstreamResponse,
    policy: RoutePolicy,
    now: float,
    *,
    has_authorization: bool,
    has_credentials: bool,
    requested_at: float | None = None,
    read: ReadInputs | None = None,
) -> Admission:
    """Whether and how ``upstream``, the handler's answer to a ``GET`` received at ``now``, is kept.

    ``has_authorization`` / ``has_credentials``: the request carried ``Authorization`` / any of
    ``Authorization`` and ``Cookie`` (see ``RoutePolicy.keeping``). ``requested_at``: when the
    request went to the handler (its answer's ``Age`` counts from then, RFC 9111 §4.2.3).
    ``read``: what the handler was seen to read, which keys the response too (``observed``).
    """
    fields = upstream.fields
    key = (upstream.status, fields, upstream.sets_cookie, has_authorization, read)
    shape = policy.shapes.get(key)
    if shape is None:
        shape = _shape(upstream, policy, now, has_authorization, read)
        if not any(name in _TIMED_FIELDS for name, _ in fields):
            policy.shapes.remember(key, shape, len(fields))
    if shape.refused is not None:
        return shape.refused
    if upstream.size > policy.max_body_size:
        return Refused("too-large")
    if shape.refused_if_small is not None:
        return shape.refused_if_small
    validators = _validators(shape.validators, upstream.body, now)
    added = shape.added + validators
    if shape.keeping.per_credentials and not has_credentials:
        return Refused("private", added)  # no one to keep it for
    date = upstream.first("date")
    initial_age = corrected_initial_age(parse_age(upstream.values("age")), date, requested_at or now, now)
    stored = _kept(upstream, policy, shape, shape.kept + validators, now - initial_age)
    return Admitted(shape.recipe, stored, added)


def _shape(
    upstream: UpstreamResponse, policy: RoutePolicy, now: float, has_authorization: bool, read: ReadInputs | None
) -> _Shape:
    """What ``admit`` decides of an answer without its body: why it is refused, or its recipe,
    lifetime and the fields it is stored with."""
    status = upstream.status
    directives, targeted = _directives(upstream, policy.options.targeted_fields)
    vary = parse_vary(upstream.values("vary"))
    refused = _never_stored(upstream, policy) or _refused_by_fields(status, directives, vary)
    date = upstream.first("date")
    expires = None if targeted or not upstream.values("expires") else upstream.values("expires")
    lifetime, from_response = _lifetime(upstream, directives, expires, date, policy, now)
    refused_if_small = None
    if status >= 500 and not (from_response and _explicit(directives, expires)):
        refused_if_small = Refused("status")  # a 5xx only when the handler itself says for how long
    elif lifetime <= 0 and not directives.no_cache:
        refused_if_small = Refused("no-lifetime")
    keeping = policy.keeping(directives.private, explicitly_shareable(directives), has_authorization)
    recipe = observed_recipe(
        merge_field_names(policy.vary, vary), keeping.per_credentials, read, policy.ignored, keeping.public
    )
    present = {name for name, _ in upstream.fields}
    added = _added_fields(present, policy, lifetime if not from_response else None, recipe)
    validators = ("date" not in present, "etag" not in present, "last-modified" not in present)
    kept = _stored_fields(upstream.fields) + added
    return _Shape(
        refused,
        refused_if_small,
        recipe,
        lifetime,
        added,
        kept,
        validators,
        keeping,
        directives.no_cache,
        _stale_window(directives, "stale-while-revalidate", policy.stale_while_revalidate),
        _stale_window(directives, "stale-if-error", policy.stale_if_error),
        any(name == "cache-control" for name, _ in added),
        recipe.per_credentials or bool(recipe.cookies),
    )


def _refused_by_fields(status: int, directives: CacheControl, vary: tuple[str, ...]) -> Refused | None:
    """Why an answer's own caching fields forbid storing it: ``must-understand`` on a status this
    cache does not understand (which overrides ``no-store``, RFC 9111 §5.2.2.3), ``no-store``,
    ``Vary: *``."""
    if directives.has("must-understand"):
        if status not in UNDERSTOOD_STATUSES:
            return Refused("must-understand")
    elif directives.no_store:
        return Refused("no-store")
    return Refused("vary-star") if ANY in vary else None


def _lifetime(
    upstream: UpstreamResponse,
    directives: CacheControl,
    expires: tuple[str, ...] | None,
    date: str | None,
    policy: RoutePolicy,
    now: float,
) -> tuple[int, bool]:
    """(the freshness lifetime, whether the response gave it): its own, the route's, or on a
    ``cache=True`` route a heuristic one (never advertised)."""
    lifetime, from_response = freshness_lifetime(directives, expires, date, now, policy.expiry)
    if not from_response and policy.standards_mode:
        return _heuristic(upstream, directives, policy, now), True
    return lifetime, from_response


def _never_stored(upstream: UpstreamResponse, policy: RoutePolicy) -> Refused | None:
    """Why ``upstream`` is not stored whatever its caching fields say: a route that stores nothing,
    a status never stored, a cookie set."""
    status = upstream.status
    if not policy.stores:
        return Refused("no-lifetime")
    if not 200 <= status <= 599 or status in NEVER_STORED:
        return Refused("status")
    if not policy.standards_mode and (status not in policy.successful_statuses or status >= 500):
        return Refused("status")  # cache_expiry routes keep the 1.0 rule: successful_responses only
    if upstream.sets_cookie:
        return Refused("set-cookie")  # someone's session must never reach someone else
    return None


def _kept(
    upstream: UpstreamResponse, policy: RoutePolicy, shape: _Shape, headers: HeaderFields, stored_at: float
) -> StoredResponse:
    """The response as it is kept: its fields (less those not stored) and the ones the cache added."""
    return StoredResponse(
        status=upstream.status,
        headers=headers,
        body=upstream.body,
        stored_at=stored_at,
        lifetime=shape.lifetime,
        public=shape.keeping.public,
        no_cache=shape.no_cache,
        stale_while_revalidate=shape.stale_while_revalidate,
        stale_if_error=shape.stale_if_error,
        kept_stale=policy.options.keep_stale,
        advertised=shape.advertised,
        per_user=shape.per_user,
    )


def _directives(upstream: UpstreamResponse, targeted_fields: tuple[str, ...]) -> tuple[CacheControl, bool]:
    """The directives that decide for this cache, and whether a targeted field gave them: the
    first valid field of ``targeted_fields`` present wins over ``Cache-Control`` and ``Expires``
    (RFC 9213 §2.1)."""
    for name in targeted_fields:
        lines = upstream.values(name)
        if lines:
            targeted = parse_targeted_cache_control(lines)
            if targeted is not None:
                return targeted, True
    return parse_cache_control(upstream.values("cache-control")), False


def _explicit(directives: CacheControl, expires: tuple[str, ...] | None) -> bool:
    return directives.has("s-maxage") or directives.has("max-age") or expires is not None


def _heuristic(upstream: UpstreamResponse, directives: CacheControl, policy: RoutePolicy, now: float) -> int:
    """A lifetime guessed from ``Last-Modified`` (RFC 9111 §4.2.2), when the middleware opted in
    and the status allows it (or the answer says ``public``); else 0."""
    options = policy.options
    if not options.heuristic_fraction or not (upstream.status in HEURISTICALLY_CACHEABLE or directives.public):
        return 0
    return heuristic_lifetime(
        upstream.first("last-modified"),
        upstream.first("date"),
        now,
        options.heuristic_fraction,
        options.heuristic_max_lifetime,
    )


def _stored_fields(fields: HeaderFields) -> HeaderFields:
    """What is kept of the answer's headers: not those made for each response, nor those of one
    connection (RFC 9111 §3.1: hop-by-hop fields and those ``Connection`` names), nor
    ``Content-Length``, which the stored body gives."""
    named = {
        name.strip().lower()
        for field_name, values in fields
        if field_name == "connection"
        for value in values
        for name in value.split(",")
    }
    return tuple(field for field in fields if field[0] not in NOT_STORED_FIELDS and field[0] not in named)


def _added_fields(
    present: set[str], policy: RoutePolicy, route_lifetime: int | None, recipe: VaryRecipe
) -> HeaderFields:
    """What a cacheable answer gets when the handler did not set it (a handler's own header is
    never overwritten): ``Cache-Control`` when the route's expiry gave the lifetime (its
    ``max-age`` is ``cache_max_age`` when the route sets one, and ``no-cache`` for 0; ``private``
    when kept per credentials), and ``Vary`` with the route's headers and those the handler was
    seen to read (``Cookie`` for its cookies). The validators follow (``_validators``).
    ``present``: the names of the answer's own fields."""
    added: list[tuple[str, tuple[str, ...]]] = []
    if "cache-control" not in present and route_lifetime is not None:
        scope = "private, " if recipe.per_credentials else "public, " if policy.control == "public" else ""
        advertised = route_lifetime if policy.max_age is None else policy.max_age
        freshness = f"max-age={advertised}" if advertised else "no-cache"  # cache_max_age=0: always ask us
        added.append(("cache-control", (scope + freshness,)))
    if "vary" not in present:
        vary = policy.vary_header if not recipe.observed else _observed_vary(policy.vary, recipe)
        if vary:
            added.append(("vary", (vary,)))
    return tuple(added)


def _validators(missing: tuple[bool, bool, bool], body: bytes, now: float) -> HeaderFields:
    """``Date``, ``ETag`` (from the body) and ``Last-Modified``, those ``missing`` from the answer."""
    add_date, add_etag, add_last_modified = missing
    generated_at = format_http_date(now)
    added: list[tuple[str, tuple[str, ...]]] = []
    if add_date:
        added.append(("date", (generated_at,)))
    if add_etag:
        added.append(("etag", (generate_entity_tag(body),)))
    if add_last_modified:
        added.append(("last-modified", (generated_at,)))
    return tuple(added)


def _observed_vary(declared: tuple[str, ...], recipe: VaryRecipe) -> str:
    """The route's ``Vary``, then the other fields an observed recipe keys on (``Cookie`` for its cookies)."""
    read = [name for name in recipe.field_names if name not in declared]
    cookie = ["cookie"] if recipe.cookies and "cookie" not in declared else []
    return ", ".join((*declared, *read, *cookie))


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
