"""``CacheMiddleware``: the request flow of DESIGN.md §3, one named step per box."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from chocs import HttpMethod, HttpRequest, HttpResponse, HttpStatus, Route
from chocs.middleware import Middleware, MiddlewareHandler

from . import cache_status
from .adapter import (
    RequestTarget,
    build_gateway_timeout,
    build_not_modified,
    build_precondition_failed,
    build_response,
    header_fields,
    response_lines,
    sets_cookie,
)
from .cache_storage import ICacheStorage
from .entries import HeaderFields, StoredResponse, first_value
from .faults import FaultLog, logger
from .keys import resource_id
from .policy import PolicyDefaults, RoutePolicy, build_policy, validate_vary
from .semantics.cache_control import CacheControl, parse_cache_control
from .semantics.freshness import request_allows_reuse
from .semantics.preconditions import PROCEED, Conditions, Outcome, Verdict, evaluate
from .semantics.uris import same_origin_references
from .store import EntryStore, Lookup, miss_reason
from .storing import StoragePlan, capture, decorate, plan_storage

__all__ = ["CacheMiddleware"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
GET, HEAD = HttpMethod.GET, HttpMethod.HEAD  # a module global is 0.07 µs cheaper than enum access
UNSAFE_METHODS = frozenset((HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE))
CACHEABLE_METHODS = frozenset((HttpMethod.GET, HttpMethod.HEAD))
_UNKNOWN: Any = object()
"""A route the middleware has not seen yet (``None`` means: seen, and not cached)."""


class CacheMiddleware(Middleware):
    """HTTP response cache and conditional-request middleware for chocs.

    ``cache_vary``, ``safe_methods`` and ``successful_responses`` are the 1.0 options; new
    options are keyword-only:

    - ``max_body_size``: larger bodies are not stored (default 1 MiB).
    - ``honour_request_cache_control``: obey the request's ``Cache-Control`` (``no-cache``,
      ``max-age``, ``min-fresh``, ``no-store``, ``only-if-cached``). Off by default, as in
      Varnish and nginx: otherwise any client can make the handler run on every request.

    Routes opt in with ``cache_expiry``, ``cache_vary``, ``cache_control`` and ``cache`` (see
    ``policy.py``).
    """

    def __init__(
        self,
        cache_storage: ICacheStorage,
        cache_vary: Iterable[str] | str = ("accept", "accept-language"),
        safe_methods: Iterable[HttpMethod] = (HttpMethod.GET, HttpMethod.HEAD),
        successful_responses: Iterable[HttpStatus | int] = (HttpStatus.OK, HttpStatus.CREATED),
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        honour_request_cache_control: bool = False,
    ) -> None:
        _check_storage(cache_storage)
        self._safe_methods = tuple(_check_safe_methods(safe_methods))
        self._defaults = PolicyDefaults(
            vary=validate_vary(cache_vary, "CacheMiddleware(cache_vary=...)"),
            successful_statuses=frozenset(_status_codes(successful_responses)),
            max_body_size=_check_max_body_size(max_body_size),
        )
        if not isinstance(honour_request_cache_control, bool):
            raise TypeError("CacheMiddleware(honour_request_cache_control=...) must be True or False")
        self._honour_request_cache_control = honour_request_cache_control
        self._faults = FaultLog()
        self._entries = EntryStore(cache_storage, self._faults)
        self._policies: dict[tuple[int, str], RoutePolicy | None] = {}

    @property
    def storage_faults(self) -> int:
        """How many storage operations have failed (each was logged or counted, and served around)."""
        return self._faults.count

    def handle(self, request: HttpRequest, next: MiddlewareHandler) -> HttpResponse:
        route = request.route
        if route is None:
            return next(request)  # no route: chocs answers 404
        # HttpMethod hashes through Python-level Enum.__hash__ (~0.1 µs on every request); its
        # members are singletons, so their identity is as good a key.
        policy = self._policies.get((id(request.method), route.route), _UNKNOWN)
        if policy is _UNKNOWN:
            policy = self._build_policy(request.method, route)
        if policy is None:
            return next(request)
        if request.method in self._safe_methods:
            return self._lookup(request, next, policy)
        if request.method in UNSAFE_METHODS:
            return self._pass_and_invalidate(request, next, policy)
        return next(request)

    def _lookup(self, request: HttpRequest, next: MiddlewareHandler, policy: RoutePolicy) -> HttpResponse:
        target = RequestTarget(request)
        asked = self._request_directives(target) if self._honour_request_cache_control else None
        index, stored = self._find(target, policy)
        refused_by_request = False
        if stored is not None and not stored.no_cache:
            age = time.time() - stored.stored_at
            if age < stored.lifetime:
                whole_age = int(age) if age > 0.0 else 0
                if asked is None or request_allows_reuse(asked, whole_age, stored.lifetime):
                    return _respond_from_storage(request, target, stored, whole_age)
                refused_by_request = True
        reason = "request" if refused_by_request else miss_reason(index, stored)
        if asked is not None and asked.has("only-if-cached"):
            return build_gateway_timeout({"cache-status": [cache_status.forwarded(reason, detail="only-if-cached")]})
        return self._fetch(request, next, policy, target, reason, may_store=asked is None or not asked.no_store)

    def _fetch(
        self,
        request: HttpRequest,
        next: MiddlewareHandler,
        policy: RoutePolicy,
        target: RequestTarget,
        reason: str,
        may_store: bool = True,
    ) -> HttpResponse:
        response = next(request)
        header_fields(response)  # sends str-valued headers once, stored or not
        stored, detail = False, None
        if request.method is GET:
            stored, detail = self._store(target, response, policy, may_store)
        status = cache_status.forwarded(reason, int(response.status_code), stored, detail)
        response.headers.override("cache-status", status)
        return _answer_preconditions(target, response, status)

    def _store(
        self, target: RequestTarget, response: HttpResponse, policy: RoutePolicy, may_store: bool
    ) -> tuple[bool, str | None]:
        """Store the response if it may be; return whether it was, and why not (for ``Cache-Status``)."""
        if not policy.stores:
            return False, "no-lifetime"
        now = time.time()
        plan = plan_storage(target, response, policy, now)
        if not isinstance(plan, StoragePlan):
            return False, plan
        decorate(response, plan, policy, now)
        if plan.refusal is not None:
            return False, plan.refusal
        if not may_store:
            return False, "request-no-store"
        return self._entries.save(target, plan.recipe, capture(response, plan, now), policy.route), None

    def _pass_and_invalidate(self, request: HttpRequest, next: MiddlewareHandler, policy: RoutePolicy) -> HttpResponse:
        target = RequestTarget(request)
        conditions = target.conditions()
        if conditions is not None:
            refusal = self._refuse_failed_write(target, policy, conditions)
            if refusal is not None:
                return refusal
        response = next(request)
        status = int(response.status_code)
        invalidated = 200 <= status < 400
        if invalidated:
            for resource in _changed_resources(target, response):
                self._entries.invalidate(resource, policy.route)
        header_fields(response)
        response.headers.override(
            "cache-status",
            cache_status.forwarded("method", status, detail="invalidated" if invalidated else None),
        )
        return response

    def _refuse_failed_write(
        self, target: RequestTarget, policy: RoutePolicy, conditions: Conditions
    ) -> HttpResponse | None:
        """A 412 without running the handler when the write's preconditions fail against the
        fresh stored representation (lost-update protection); ``None`` to let the handler decide."""
        _, stored = self._find(target, policy)
        if stored is None:
            return None
        age = max(0, int(time.time() - stored.stored_at))
        if stored.no_cache or age >= stored.lifetime:
            return None
        verdict = _evaluate(conditions, False, stored.status, stored.headers)
        if verdict.outcome is not Outcome.PRECONDITION_FAILED:
            return None
        status = cache_status.hit(stored.lifetime - age, detail="precondition-failed")
        return build_precondition_failed(verdict.decided_by, {"cache-status": [status]})

    def _find(self, target: RequestTarget, policy: RoutePolicy) -> Lookup:
        """The stored representation this request may be given (see ``docs/security.md``)."""
        return self._entries.find(
            target,
            policy.expected_recipe(target.has_authorization),
            policy.route,
            shared_allowed=not target.has_authorization or policy.control == "public",
        )

    def _request_directives(self, target: RequestTarget) -> CacheControl | None:
        lines = target.field_lines("cache-control")
        return parse_cache_control(lines) if lines else None

    def _build_policy(self, method: HttpMethod, route: Route) -> RoutePolicy | None:
        """The route's policy, built and validated on its first request, then remembered."""
        try:
            policy = build_policy(route.route, route.attributes, self._defaults)
        except (TypeError, ValueError) as error:
            # Through WSGI, chocs answers a bare 500: the log line is where the reason shows.
            logger.error("cache middleware cannot serve %s %s: %s", method, route.route, error)
            raise
        self._policies[(id(method), route.route)] = policy
        return policy


def _respond_from_storage(
    request: HttpRequest, target: RequestTarget, stored: StoredResponse, age: int
) -> HttpResponse:
    status = cache_status.hit(stored.lifetime - age)
    conditions = target.conditions()
    if conditions is not None:
        verdict = _evaluate(conditions, True, stored.status, stored.headers)
        answer = _answer(verdict, stored.headers, {"age": [str(age)], "cache-status": [status]})
        if answer is not None:
            return answer
    return build_response(stored, age, status, with_body=request.method is not HEAD)


def _answer_preconditions(target: RequestTarget, response: HttpResponse, status: str) -> HttpResponse:
    """The handler's fresh response, or the 304/412 that the request's preconditions call for."""
    conditions = target.conditions()
    if conditions is None or sets_cookie(response):  # a 304 would drop the cookie
        return response
    fields = header_fields(response)
    verdict = _evaluate(conditions, True, int(response.status_code), fields)
    return _answer(verdict, fields, {"cache-status": [status]}) or response


def _evaluate(conditions: Conditions, safe: bool, status: int, fields: HeaderFields) -> Verdict:
    if not 200 <= status < 300:
        return PROCEED  # preconditions apply to a 2xx representation only (RFC 9110 §13.2.1)
    return evaluate(conditions, safe, first_value(fields, "etag"), first_value(fields, "last-modified"))


def _answer(verdict: Verdict, fields: HeaderFields, extra: dict[str, list[str]]) -> HttpResponse | None:
    if verdict.outcome is Outcome.NOT_MODIFIED:
        return build_not_modified(fields, extra)
    if verdict.outcome is Outcome.PRECONDITION_FAILED:
        return build_precondition_failed(verdict.decided_by, extra)
    return None


def _changed_resources(target: RequestTarget, response: HttpResponse) -> list[str]:
    """The target of a successful write, and the same-origin URIs its answer names (RFC 9111 §4.4)."""
    named = response_lines(response, "location") + response_lines(response, "content-location")
    references = same_origin_references(target.host, target.path, named)
    return [target.resource, *(resource_id(target.host, path, query) for path, query in references)]


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
