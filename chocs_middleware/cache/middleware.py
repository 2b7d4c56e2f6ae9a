"""``CacheMiddleware``: the request flow of DESIGN.md §3, one named step per box."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from chocs import HttpMethod, HttpRequest, HttpResponse, HttpStatus, Route
from chocs.middleware import Middleware, MiddlewareHandler

from . import cache_status
from .adapter import (
    RequestTarget,
    build_gateway_timeout,
    build_not_modified,
    build_precondition_failed,
    build_refreshed,
    build_response,
    header_fields,
    response_lines,
    sets_cookie,
    validating,
)
from .cache_storage import ICacheStorage
from .entries import HeaderFields, StoredResponse, VaryRecipe, first_value
from .faults import FaultLog, logger
from .keys import resource_id
from .policy import PolicyDefaults, RoutePolicy, build_policy, validate_vary
from .semantics.cache_control import CacheControl, parse_cache_control
from .semantics.dates import format_http_date
from .semantics.freshness import request_allows_reuse
from .semantics.preconditions import PROCEED, Conditions, Outcome, Verdict, evaluate
from .semantics.uris import same_origin_references
from .single_flight import SingleFlight
from .store import EntryStore, Lookup, may_serve, miss_reason
from .storing import StoragePlan, capture, decorate, plan_storage

__all__ = ["CacheMiddleware"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 5.0
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
    - ``lock_timeout``: how long (seconds) concurrent misses for one key wait for the one
      caller that runs the handler, before running it themselves (default 5).

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
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
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
        self._lock_timeout = _check_lock_timeout(lock_timeout)
        self._faults = FaultLog()
        self._entries = EntryStore(cache_storage, self._faults)
        self._flights: SingleFlight[Fetched] = SingleFlight()
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
        if stored is not None:
            age = time.time() - stored.stored_at
            if age < 0.0:
                age = 0.0  # stored by a process whose clock runs ahead
            if age < stored.lifetime and not stored.no_cache:
                if asked is None or request_allows_reuse(asked, int(age), stored.lifetime):
                    return _respond_from_storage(request, target, stored, int(age))
                refused_by_request = True
            elif asked is None and stored.serves_while_revalidating(age):
                miss = Miss(request, next, policy, target, "stale", stored)
                return self._serve_while_revalidating(miss, int(age))
        reason = "request" if refused_by_request else miss_reason(index, stored)
        if asked is not None and asked.has("only-if-cached"):
            return build_gateway_timeout({"cache-status": [cache_status.forwarded(reason, detail="only-if-cached")]})
        may_store = asked is None or not asked.no_store
        return self._fetch_once(Miss(request, next, policy, target, reason, stored, may_store))

    def _serve_while_revalidating(self, miss: Miss, age: int) -> HttpResponse:
        """One caller refreshes the stale response; meanwhile everyone else gets it at once."""
        stale = miss.stale
        assert stale is not None
        key = self._flight_key(miss)
        flight, leader = self._flights.join(key)
        if not leader:
            status = cache_status.forwarded("stale", ttl=stale.lifetime - age, detail="stale-while-revalidate")
            return _respond_from_storage(miss.request, miss.target, stale, age, status)
        fetched = None
        try:
            response, fetched = self._fetch(miss)
            return response
        finally:
            self._flights.finish(key, flight, fetched)

    def _fetch_once(self, miss: Miss) -> HttpResponse:
        """Single-flight: concurrent misses for one variant run the handler once."""
        key = self._flight_key(miss)
        flight, leader = self._flights.join(key)
        if not leader:
            if flight.wait(self._lock_timeout):
                answer = self._answer_from_flight(miss, flight.result)
                if answer is not None:
                    return answer
            # The leader took too long, or its answer is not this request's to have: run the handler.
            return self._fetch(miss)[0]
        fetched = None
        try:
            response, fetched = self._fetch_across_processes(miss, key)
            return response
        finally:
            self._flights.finish(key, flight, fetched)

    def _fetch_across_processes(self, miss: Miss, key: str) -> tuple[HttpResponse, Fetched | None]:
        """With a storage that has locks, one process runs the handler and the others wait for its entry."""
        if not self._entries.has_locks:
            return self._fetch(miss)
        token, found = self._lock_or_wait(miss, key)
        if found is not None:
            return _collapsed(miss, found), None
        try:
            return self._fetch(miss)
        finally:
            if token is not None:
                self._entries.release_lock(key, token, miss.policy.route)

    def _fetch(self, miss: Miss) -> tuple[HttpResponse, Fetched | None]:
        """Run the handler (revalidating the stale response), store what may be stored, answer."""
        try:
            response, upstream_status = _call_handler(miss.request, miss.next, miss.stale)
        except Exception as error:
            fallback = _serve_stale_on_error(miss, None, error)
            if fallback is None:
                raise
            return fallback, FAILED
        if upstream_status >= 500:
            fallback = _serve_stale_on_error(miss, upstream_status, None)
            if fallback is not None:
                return fallback, FAILED
        header_fields(response)  # sends str-valued headers once, stored or not
        fetched, stored, detail = None, False, None
        if miss.request.method is GET:
            fetched, stored, detail = self._store(miss, response)
        status = cache_status.forwarded(miss.reason, upstream_status, stored, detail)
        response.headers.override("cache-status", status)
        return _answer_preconditions(miss.target, response, status), fetched

    def _store(self, miss: Miss, response: HttpResponse) -> tuple[Fetched | None, bool, str | None]:
        """Store the response if it may be. Returns what waiting callers may be given, whether
        it was stored, and why not (for ``Cache-Status``)."""
        policy, target = miss.policy, miss.target
        if not policy.stores:
            return None, False, "no-lifetime"
        now = time.time()
        plan = plan_storage(target, response, policy, now)
        if not isinstance(plan, StoragePlan):
            return None, False, plan
        decorate(response, plan, policy, now)
        if plan.refusal is not None:
            return None, False, plan.refusal
        entry = capture(response, plan, now)
        fetched = Fetched(entry, plan.recipe, target.variant(plan.recipe))  # shared even if storing fails
        if not miss.may_store:
            return fetched, False, "request-no-store"
        return fetched, self._entries.save(target, plan.recipe, entry, policy.route), None

    def _answer_from_flight(self, miss: Miss, fetched: Fetched | None) -> HttpResponse | None:
        """What a waiting caller gets once the leader is done, if there is something that is its to have."""
        if fetched is not None and fetched.stored is not None and fetched.recipe is not None:
            same_variant = miss.target.variant(fetched.recipe) == fetched.variant
            shared_allowed = miss.policy.lookups[miss.target.has_authorization].shared_allowed
            if same_variant and may_serve(fetched.recipe, fetched.stored, shared_allowed):
                return _collapsed(miss, fetched.stored)
        if fetched is not None and fetched.failed:
            return _serve_stale_on_error(miss, None, None, collapsed=True)
        found = self._stored_meanwhile(miss)  # e.g. the leader was given another process's response
        return None if found is None else _collapsed(miss, found)

    def _lock_or_wait(self, miss: Miss, key: str) -> tuple[str | None, StoredResponse | None]:
        """Take the storage's lock for ``key`` (a token), or wait for the process holding it to
        store a fresh response (the response). Neither, after ``lock_timeout``: run the handler."""
        deadline = time.monotonic() + self._lock_timeout
        delay = 0.005
        token, held_elsewhere = self._entries.acquire_lock(key, self._lock_timeout, miss.policy.route)
        waited = held_elsewhere
        while held_elsewhere:
            if time.monotonic() + delay > deadline:
                return None, None
            time.sleep(delay)  # backing off: waiting costs the storage a few calls, not a busy loop
            delay = min(delay * 2, 0.1)
            found = self._stored_meanwhile(miss)
            if found is not None:
                return None, found
            token, held_elsewhere = self._entries.acquire_lock(key, self._lock_timeout, miss.policy.route)
        found = self._stored_meanwhile(miss) if waited else None  # the holder may have just finished
        if found is not None and token is not None:
            self._entries.release_lock(key, token, miss.policy.route)
            return None, found
        return token, None

    def _stored_meanwhile(self, miss: Miss) -> StoredResponse | None:
        """A fresh response stored since this request looked (not the stale one it already had)."""
        _, found = self._find(miss.target, miss.policy)
        if found is None or not found.is_fresh(time.time() - found.stored_at):
            return None
        return found if miss.stale is None or found.stored_at > miss.stale.stored_at else None

    def _flight_key(self, miss: Miss) -> str:
        return miss.target.variant(miss.policy.lookups[miss.target.has_authorization].recipe)

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
        """The stored representation this request may be given (see ``RoutePolicy.lookups``)."""
        recipe, shared_allowed = policy.lookups[target.has_authorization]
        return self._entries.find(target, recipe, policy.route, shared_allowed)

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


class Miss:
    """A request the cache could not answer from storage at once, on its way to the handler."""

    __slots__ = ("may_store", "next", "policy", "reason", "request", "stale", "target")

    def __init__(
        self,
        request: HttpRequest,
        next: MiddlewareHandler,
        policy: RoutePolicy,
        target: RequestTarget,
        reason: str,
        stale: StoredResponse | None = None,
        may_store: bool = True,
    ) -> None:
        self.request = request
        self.next = next
        self.policy = policy
        self.target = target
        self.reason = reason
        """RFC 9211 ``fwd`` value: why the request goes to the handler."""
        self.stale = stale
        """What storage had for this request, no longer fresh (or ``no-cache``): to revalidate, or
        to serve when the handler fails."""
        self.may_store = may_store


class Fetched(NamedTuple):
    """What the caller that ran the handler shares with the callers that waited for it."""

    stored: StoredResponse | None = None
    recipe: VaryRecipe | None = None
    variant: str | None = None
    failed: bool = False
    """The handler raised or answered 5xx."""


FAILED = Fetched(failed=True)


def _collapsed(miss: Miss, stored: StoredResponse) -> HttpResponse:
    """A waiting caller's answer from the response another caller fetched."""
    status = cache_status.forwarded(miss.reason, stored.status, collapsed=True)
    return _respond_from_storage(miss.request, miss.target, stored, 0, status)


def _respond_from_storage(
    request: HttpRequest, target: RequestTarget, stored: StoredResponse, age: int, status: str | None = None
) -> HttpResponse:
    if status is None:
        status = cache_status.hit(stored.lifetime - age)
    conditions = target.conditions()
    if conditions is not None:
        verdict = _evaluate(conditions, True, stored.status, stored.headers)
        answer = _answer(verdict, stored.headers, {"age": [str(age)], "cache-status": [status]})
        if answer is not None:
            return answer
    return build_response(stored, age, status, with_body=request.method is not HEAD)


def _call_handler(
    request: HttpRequest, next: MiddlewareHandler, stale: StoredResponse | None
) -> tuple[HttpResponse, int]:
    """The handler's answer, and the status it gave.

    With a stale stored response that has validators, the handler is asked whether it is still
    current (``If-None-Match`` / ``If-Modified-Since``); a 304 refreshes it (RFC 9111 §4.3.4)
    and the refreshed full response is returned.
    """
    etag = first_value(stale.headers, "etag") if stale is not None else None
    last_modified = first_value(stale.headers, "last-modified") if stale is not None else None
    if stale is None or request.method is not GET or not (etag or last_modified):
        response = next(request)
        return response, int(response.status_code)
    with validating(request, etag, last_modified):
        response = next(request)
    status = int(response.status_code)
    if status == 304:
        response = build_refreshed(stale, response, format_http_date(time.time()))
    return response, status


def _serve_stale_on_error(
    miss: Miss, upstream_status: int | None, error: Exception | None, collapsed: bool = False
) -> HttpResponse | None:
    """The stale response within its stale-if-error window (RFC 5861), with its true age; else ``None``."""
    stale = miss.stale
    if stale is None:
        return None
    age = max(0, int(time.time() - stale.stored_at))
    if not stale.serves_on_error(age):
        return None
    if not collapsed:
        failure = f"answered {upstream_status}" if upstream_status is not None else f"raised {error!r}"
        logger.error(
            "handler of %s %s; serving the stored response, %ss old, within its stale-if-error window",
            miss.policy.route,
            failure,
            age,
            exc_info=error,
        )
    status = cache_status.forwarded(
        "stale", upstream_status, ttl=stale.lifetime - age, collapsed=collapsed, detail="stale-if-error"
    )
    return _respond_from_storage(miss.request, miss.target, stale, age, status)


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


def _check_lock_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"CacheMiddleware(lock_timeout=...) must be a number of seconds, got {seconds!r}")
    if seconds <= 0:
        raise ValueError(f"CacheMiddleware(lock_timeout=...) must be more than 0 seconds, got {seconds}")
    return float(seconds)


def _check_max_body_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"CacheMiddleware(max_body_size=...) must be a number of bytes, got {size!r}")
    if size < 0:
        raise ValueError(f"CacheMiddleware(max_body_size=...) must be 0 or more, got {size}")
    return size
