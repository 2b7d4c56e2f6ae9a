"""Whether and how a handler's response is stored: RFC 9111 §3 for a shared cache.

The handler decides per response (``no-store``, ``private``, ``no-cache``, ``s-maxage``,
``max-age``, ``Expires``); the route's keywords fill in what the response leaves open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chocs import HttpResponse

from .adapter import RequestTarget, header_fields, is_representable, response_lines, sets_cookie
from .entries import StoredResponse, VaryRecipe
from .policy import RoutePolicy
from .semantics.cache_control import CacheControl, parse_cache_control
from .semantics.dates import format_http_date
from .semantics.entity_tags import generate_entity_tag
from .semantics.freshness import explicitly_shareable, freshness_lifetime
from .semantics.vary import ANY, merge_field_names, parse_vary

__all__ = ["StoragePlan", "capture", "decorate", "plan_storage"]

NEVER_STORED = frozenset((206, 304, 412))
"""Partial content, and the handler's own conditional answers: never a representation to keep."""
_NOT_STORED_HEADERS = frozenset(("age", "cache-status"))


@dataclass(frozen=True)
class StoragePlan:
    """How a cacheable response is kept."""

    lifetime: int
    lifetime_from_response: bool
    """True when the response's own headers gave the lifetime (the route's expiry did not)."""
    recipe: VaryRecipe
    public: bool
    private: bool
    no_cache: bool
    stale_while_revalidate: int = 0
    stale_if_error: int = 0
    refusal: str | None = field(default=None)
    """Set when the response is cacheable but this shared cache must not keep it."""


def plan_storage(target: RequestTarget, response: HttpResponse, policy: RoutePolicy, now: float) -> StoragePlan | str:
    """The plan for a response to ``GET``, or why it is not cacheable at all (a ``Cache-Status`` detail)."""
    status = int(response.status_code)
    if status not in policy.successful_statuses or status in NEVER_STORED or status >= 500:
        return "status"
    if not is_representable(status):
        return "status"
    if sets_cookie(response):
        return "set-cookie"  # someone's session must never reach someone else
    directives = parse_cache_control(response_lines(response, "cache-control"))
    if directives.no_store:
        return "no-store"
    vary = parse_vary(response_lines(response, "vary"))
    if ANY in vary:
        return "vary-star"
    if response.body.getbuffer().nbytes > policy.max_body_size:
        return "too-large"
    expires = _first(response, "expires")
    lifetime, from_response = freshness_lifetime(directives, expires, _first(response, "date"), now, policy.expiry)
    if lifetime <= 0:
        return "no-lifetime"
    return _plan(target, policy, directives, vary, lifetime, from_response)


def _plan(
    target: RequestTarget,
    policy: RoutePolicy,
    directives: CacheControl,
    vary: tuple[str, ...],
    lifetime: int,
    from_response: bool,
) -> StoragePlan:
    private = directives.private or policy.control == "private"
    shareable = not private and (policy.control == "public" or explicitly_shareable(directives))
    # RFC 9111 §3.5: a response to a request with Authorization is kept for those credentials only,
    # unless it is explicitly shareable.
    per_credentials = private or (target.has_authorization and not shareable)
    names = tuple(sorted(merge_field_names(policy.vary, vary)))
    refusal = "private" if private and not target.has_credentials else None  # no one to keep it for
    return StoragePlan(
        lifetime=lifetime,
        lifetime_from_response=from_response,
        recipe=VaryRecipe(names, per_credentials),
        public=shareable,
        private=per_credentials,
        no_cache=directives.no_cache,
        stale_while_revalidate=_stale_window(directives, "stale-while-revalidate", policy.stale_while_revalidate),
        stale_if_error=_stale_window(directives, "stale-if-error", policy.stale_if_error),
        refusal=refusal,
    )


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


def decorate(response: HttpResponse, plan: StoragePlan, policy: RoutePolicy, now: float) -> None:
    """Add what a cacheable response carries when the handler did not set it.

    ``Cache-Control`` only when the route's expiry set the lifetime; ``Vary`` with the route's
    headers; ``Date``; and the validators (``ETag`` from the body, ``Last-Modified``). The
    handler's own headers are never overwritten.
    """
    headers = response.headers
    if "cache-control" not in headers and not plan.lifetime_from_response:
        scope = "private, " if plan.private else "public, " if policy.control == "public" else ""
        headers.override("cache-control", [f"{scope}max-age={plan.lifetime}"])
    if "vary" not in headers and policy.vary:
        headers.override("vary", [policy.vary_header])
    generated_at = format_http_date(now)
    if "date" not in headers:
        headers.override("date", [generated_at])
    if "etag" not in headers:
        headers.override("etag", [generate_entity_tag(response.body.getvalue())])
    if "last-modified" not in headers:
        headers.override("last-modified", [generated_at])


def capture(response: HttpResponse, plan: StoragePlan, now: float) -> StoredResponse:
    return StoredResponse(
        status=int(response.status_code),
        headers=tuple(field for field in header_fields(response) if field[0] not in _NOT_STORED_HEADERS),
        body=response.body.getvalue(),
        stored_at=now,
        lifetime=plan.lifetime,
        public=plan.public,
        no_cache=plan.no_cache,
        stale_while_revalidate=plan.stale_while_revalidate,
        stale_if_error=plan.stale_if_error,
    )


def _first(response: HttpResponse, name: str) -> str | None:
    lines = response_lines(response, name)
    return lines[0] if lines else None
