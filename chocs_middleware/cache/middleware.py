"""``CacheMiddleware``: the request flow of DESIGN.md §3, one named step per box."""

from __future__ import annotations

import time
from collections.abc import Iterable

from chocs import HttpMethod, HttpRequest, HttpResponse, HttpStatus
from chocs.middleware import Middleware, MiddlewareHandler

from . import cache_status
from .adapter import RequestTarget, build_response, header_fields, is_representable
from .cache_storage import ICacheStorage
from .entries import StoredResponse, VaryRecipe
from .faults import FaultLog, logger
from .policy import PolicyDefaults, RoutePolicy, build_policy, validate_vary
from .semantics.dates import format_http_date
from .semantics.vary import ANY, merge_field_names, parse_vary
from .store import EntryStore, Target, miss_reason

__all__ = ["CacheMiddleware"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
UNSAFE_METHODS = frozenset((HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE))
CACHEABLE_METHODS = frozenset((HttpMethod.GET, HttpMethod.HEAD))
_NOT_STORED_HEADERS = frozenset(("age", "cache-status"))


class CacheMiddleware(Middleware):
    """HTTP response cache and conditional-request middleware for chocs.

    ``cache_vary``, ``safe_methods`` and ``successful_responses`` are the 1.0 options; new
    options are keyword-only. Routes opt in with ``cache_expiry``, ``cache_vary``,
    ``cache_control`` and ``cache`` (see ``policy.py``).
    """

    def __init__(
        self,
        cache_storage: ICacheStorage,
        cache_vary: Iterable[str] | str = ("accept", "accept-language"),
        safe_methods: Iterable[HttpMethod] = (HttpMethod.GET, HttpMethod.HEAD),
        successful_responses: Iterable[HttpStatus | int] = (HttpStatus.OK, HttpStatus.CREATED),
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        _check_storage(cache_storage)
        self._safe_methods = tuple(_check_safe_methods(safe_methods))
        self._defaults = PolicyDefaults(
            vary=validate_vary(cache_vary, "CacheMiddleware(cache_vary=...)"),
            successful_statuses=frozenset(_status_codes(successful_responses)),
            max_body_size=_check_max_body_size(max_body_size),
        )
        self._faults = FaultLog()
        self._entries = EntryStore(cache_storage, self._faults)
        self._policies: dict[tuple[int, str], RoutePolicy | None] = {}

    @property
    def storage_faults(self) -> int:
        """How many storage operations have failed (each was logged or counted, and served around)."""
        return self._faults.count

    def handle(self, request: HttpRequest, next: MiddlewareHandler) -> HttpResponse:
        policy = self._policy(request)
        if policy is None:
            return next(request)
        if request.method in self._safe_methods:
            return self._lookup(request, next, policy)
        if request.method in UNSAFE_METHODS:
            return self._pass_and_invalidate(request, next, policy)
        return next(request)

    def _lookup(self, request: HttpRequest, next: MiddlewareHandler, policy: RoutePolicy) -> HttpResponse:
        target = RequestTarget(request)
        index, stored = self._entries.find(target, policy.recipe, policy.route)
        if stored is not None:
            age = time.time() - stored.stored_at
            if age < 0.0:
                age = 0.0  # stored by a process whose clock runs ahead
            if age < stored.lifetime:
                return _respond_from_storage(request, stored, int(age))
        return self._fetch(request, next, policy, target, miss_reason(index, stored))

    def _fetch(
        self, request: HttpRequest, next: MiddlewareHandler, policy: RoutePolicy, target: Target, reason: str
    ) -> HttpResponse:
        response = next(request)
        header_fields(response)  # sends str-valued headers once, stored or not
        refusal = _why_not_storable(request, response, policy)
        stored = refusal is None and self._store(response, policy, target)
        detail = refusal if request.method is HttpMethod.GET else None
        response.headers.override(
            "cache-status", cache_status.forwarded(reason, int(response.status_code), stored, detail)
        )
        return response

    def _store(self, response: HttpResponse, policy: RoutePolicy, target: Target) -> bool:
        now = time.time()
        recipe = _decorate_for_storage(response, policy, now)
        return self._entries.save(target, recipe, _capture(response, policy, now), policy.route)

    def _pass_and_invalidate(self, request: HttpRequest, next: MiddlewareHandler, policy: RoutePolicy) -> HttpResponse:
        response = next(request)
        status = int(response.status_code)
        invalidated = 200 <= status < 400
        if invalidated:
            self._entries.invalidate(RequestTarget(request).resource, policy.route)
        header_fields(response)
        response.headers.override(
            "cache-status",
            cache_status.forwarded("method", status, detail="invalidated" if invalidated else None),
        )
        return response

    def _policy(self, request: HttpRequest) -> RoutePolicy | None:
        route = request.route
        if route is None:
            return None
        # HttpMethod hashes through Python-level Enum.__hash__ (~0.1 µs on every request); its
        # members are singletons, so their identity is as good a key.
        key = (id(request.method), route.route)
        try:
            return self._policies[key]
        except KeyError:
            pass
        try:
            policy = build_policy(route.route, route.attributes, self._defaults)
        except (TypeError, ValueError) as error:
            # Through WSGI, chocs answers a bare 500: the log line is where the reason shows.
            logger.error("cache middleware cannot serve %s %s: %s", request.method, route.route, error)
            raise
        self._policies[key] = policy
        return policy


def _respond_from_storage(request: HttpRequest, stored: StoredResponse, age: int) -> HttpResponse:
    status = cache_status.hit(stored.lifetime - age)
    return build_response(stored, age, status, with_body=request.method is not HttpMethod.HEAD)


def _why_not_storable(request: HttpRequest, response: HttpResponse, policy: RoutePolicy) -> str | None:
    """``None`` when the response may be stored, else a short reason for ``Cache-Status``."""
    if request.method is not HttpMethod.GET:
        return "method"
    if not policy.stores:
        return "no-lifetime"
    status = int(response.status_code)
    if status not in policy.successful_statuses or not is_representable(status):
        return "status"
    if response.body.getbuffer().nbytes > policy.max_body_size:
        return "too-large"
    if ANY in _response_vary(response):
        return "vary-star"
    return None


def _response_vary(response: HttpResponse) -> tuple[str, ...]:
    value = response.headers.get("vary")
    return parse_vary([value] if isinstance(value, str) else value)


def _decorate_for_storage(response: HttpResponse, policy: RoutePolicy, now: float) -> VaryRecipe:
    """Add what a stored response carries when the handler did not set it; return its variant recipe."""
    headers = response.headers
    recipe = VaryRecipe(tuple(sorted(merge_field_names(policy.vary, _response_vary(response)))))
    if "cache-control" not in headers:
        headers.override("cache-control", [policy.cache_control_header])
    if "vary" not in headers and policy.vary:
        headers.override("vary", [policy.vary_header])
    if "date" not in headers:
        headers.override("date", [format_http_date(now)])
    return recipe


def _capture(response: HttpResponse, policy: RoutePolicy, now: float) -> StoredResponse:
    return StoredResponse(
        status=int(response.status_code),
        headers=tuple(field for field in header_fields(response) if field[0] not in _NOT_STORED_HEADERS),
        body=response.body.getvalue(),
        stored_at=now,
        lifetime=policy.expiry,
    )


def _check_storage(storage: object) -> None:
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


def _check_safe_methods(methods: Iterable[HttpMethod]) -> frozenset[HttpMethod]:
    result = frozenset(methods)
    if not result <= CACHEABLE_METHODS:
        other = ", ".join(sorted(str(method) for method in result - CACHEABLE_METHODS))
        raise ValueError(
            f"CacheMiddleware(safe_methods=...) may only contain GET and HEAD (responses to other "
            f"methods are never served from the cache), got {other}"
        )
    return result


def _status_codes(statuses: Iterable[HttpStatus | int]) -> list[int]:
    codes = []
    for status in statuses:
        if isinstance(status, bool) or not isinstance(status, (int, HttpStatus)):
            raise TypeError(f"CacheMiddleware(successful_responses=...) must hold statuses, got {status!r}")
        codes.append(int(status))
    return codes


def _check_max_body_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"CacheMiddleware(max_body_size=...) must be a number of bytes, got {size!r}")
    if size < 0:
        raise ValueError(f"CacheMiddleware(max_body_size=...) must be 0 or more, got {size}")
    return size
