"""``CacheMiddleware``: the request flow of ``docs/design.md``, one named step per box.

``handle`` is the flowchart: *pass* what the cache does not touch, *invalidate* after a
successful write, *lookup* a read, answer it *fresh* from storage, or go to the handler once per
key (*fetch*, which first *validates* a stale stored response with the handler) and *store* what
may be stored. The steps decide through the pure modules (``admission``, ``policy``,
``semantics``) and reach chocs only through ``adapter``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from . import cache_status
from .adapter import (
    NO_CONTENT_LENGTH,
    Application,
    HttpMethod,
    HttpRequest,
    HttpResponse,
    HttpStatus,
    Keying,
    Middleware,
    MiddlewareHandler,
    RequestTarget,
    Route,
    add_fields,
    add_head_route,
    answer_head_with,
    build_conditional_answer,
    build_gateway_timeout,
    build_partial,
    build_precondition_failed,
    build_refreshed,
    build_response,
    capture,
    match_get_route,
    registered_routes,
    served_by_several_processes,
    set_cache_status,
    use_middleware,
    validating,
)
from .admission import Admission, Admitted, Refused, admit
from .background import Background
from .cache_status import Trace
from .cache_storage import ICacheStorage
from .clock import SYSTEM_CLOCK, Clock
from .coalescer import Coalescer, Follow, Lead
from .entries import HeaderFields, StoredResponse, UpstreamResponse, VaryRecipe, first_value
from .entry_store import EntryStore, Missed, Saved, StorageGuard
from .exchange import HANDLER_FAILED, CachedRoute, Exchange, Fetched, Shared, SharedAnswer, WriteRoute
from .faults import FaultLog
from .grouping import Grouping
from .keys import changed_resources
from .metrics import Metrics
from .policy import (
    RoutePolicy,
    advice,
    build_options,
    build_policy,
    build_write_policy,
    check_storage,
)
from .purge import Purger
from .semantics.cache_control import CacheControl, parse_cache_control
from .semantics.dates import format_http_date
from .semantics.entity_tags import identified_for_update
from .semantics.freshness import request_allows_reuse
from .semantics.preconditions import Outcome, evaluate_representation
from .semantics.ranges import ByteRange, Unsatisfiable, range_applies, select_range

__all__ = ["CacheMiddleware"]

logger = logging.getLogger("chocs_middleware.cache")

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 5.0
GET, HEAD = HttpMethod.GET, HttpMethod.HEAD  # a module global is 0.07 µs cheaper than enum access
UNSAFE_METHODS = (HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE)
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
    - ``keep_stale``: seconds a stored response is kept after it goes stale, so that the next
      request revalidates it with the handler instead of running it in full (default 3600; 0:
      forgotten when stale). Kept responses count against the storage's bounds.
    - ``targeted_fields``: targeted cache-control fields this cache obeys, the first present
      wins over ``Cache-Control`` and ``Expires`` (RFC 9213; default ``("chocs-cache-control",)``,
      add ``"cdn-cache-control"`` to obey what the app tells CDNs).
    - ``heuristic_fraction`` / ``heuristic_max_lifetime``: on ``cache=True`` routes, a response
      without explicit freshness is fresh for this fraction of the time since its
      ``Last-Modified``, at most that many seconds (RFC 9111 §4.2.2; default 0: off).
    - ``background_revalidation``: a response in its stale-while-revalidate window is served at
      once and refreshed in the background (default True; False refreshes inline, for platforms
      that freeze threads between requests, such as AWS Lambda).
    - ``canonical_host``: the host responses are stored under, for an app served under several
      names: a name (every request shares it) or a function of the request's ``Host``. Default:
      each host has its own entries (docs/invalidation.md, "Hosts").
    - ``secret``: the key (bytes or str, 16 bytes or more) of the HMAC that turns a request's
      credentials into part of a per-user entry's id. Give every process the same one; without
      it each process makes its own, and per-user entries are not shared (docs/security.md).
    - ``clock``: where the cache reads the time (``chocs_middleware.cache.clock``); tests pass
      one they can move.

    Routes opt in with ``cache_expiry``, ``cache_vary``, ``cache_control`` and ``cache``, and
    name cache groups with ``cache_groups`` / ``cache_invalidates`` (see ``policy.py``). Every
    route with an unsafe method invalidates its path when it succeeds, keyword or not.
    """

    def __init__(
        self,
        cache_storage: ICacheStorage,
        cache_vary: Iterable[str] | str = ("accept", "accept-language"),
        safe_methods: Iterable[HttpMethod | str] = (HttpMethod.GET, HttpMethod.HEAD),
        successful_responses: Iterable[HttpStatus | int] = (HttpStatus.OK, HttpStatus.CREATED),
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        honour_request_cache_control: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        keep_stale: int = 3600,
        targeted_fields: Iterable[str] = ("chocs-cache-control",),
        heuristic_fraction: float = 0.0,
        heuristic_max_lifetime: int = 86400,
        background_revalidation: bool = True,
        canonical_host: str | Callable[[str], str] | None = None,
        secret: bytes | str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        check_storage(cache_storage)
        options = self._options = build_options(
            cache_vary,
            safe_methods,
            successful_responses,
            max_body_size=max_body_size,
            honour_request_cache_control=honour_request_cache_control,
            lock_timeout=lock_timeout,
            keep_stale=keep_stale,
            targeted_fields=targeted_fields,
            heuristic_fraction=heuristic_fraction,
            heuristic_max_lifetime=heuristic_max_lifetime,
            background_revalidation=background_revalidation,
            canonical_host=canonical_host,
            secret=secret,
        )
        self._canonical_host = options.canonical_host
        self._safe_methods = tuple(HttpMethod(name) for name in sorted(options.safe_methods))
        self._honour_request_cache_control = options.honour_request_cache_control
        self._now = clock.time
        self._faults = FaultLog(clock=clock)
        self._storage = StorageGuard(cache_storage, self._faults, clock, options.max_body_size)
        self._coalescer: Coalescer[Shared] = Coalescer(options.lock_timeout, clock)
        self._background = Background(self._faults)
        self._routes: dict[tuple[int, str], CachedRoute | WriteRoute | None] = {}
        self._purger = Purger(self._storage, options.canonical_host, self._coalescer.retire)
        self._metrics = Metrics()
        self._grouping = Grouping(self._faults)
        self._told_secret = False
        self._app: Application | None = None
        """The app ``attach`` was given: a ``HEAD`` to a cached ``GET`` route registered later is routed here."""
        self._looked_at_server = False

    @property
    def storage_faults(self) -> int:
        """How many storage operations have failed (each was logged or counted, and served around)."""
        return self._faults.count

    def handle(self, request: HttpRequest, next: MiddlewareHandler) -> HttpResponse:
        chocs_route = request.route
        if chocs_route is None:
            if request.method is HEAD and self._app is not None and self._route_late_head(request):
                return self.handle(request, next)  # a cached GET route registered after attach
            return next(request)  # pass: no route, chocs answers 404
        # HttpMethod hashes through Python-level Enum.__hash__ (~0.1 µs on every request); its
        # members are singletons, so their identity is as good a key.
        route = self._routes.get((id(request.method), chocs_route.route), _UNKNOWN)
        if route is _UNKNOWN:
            route = self._first_request(request.method, chocs_route)
        if route is None:
            return next(request)  # pass: not a cached route, or a method the cache leaves alone
        if type(route) is WriteRoute:
            return self._invalidate(request, next, route)
        target = RequestTarget(request, self._canonical_host, route.keying)
        if target.has_body:
            return self._bypass(request, next, "request-body")  # a GET with a body: its answer may depend on it
        asked = self._request_directives(target) if self._honour_request_cache_control else None
        policy, now = route.policy, self._now()
        lookup = policy.authorized_lookup if target.has_authorization else policy.anonymous_lookup
        found = route.entries.find(target, lookup, now)
        if isinstance(found, Missed):  # nothing stored that this request may be given
            return self._fetch_once(Exchange(request, next, route, target, asked, found, found.reason))
        age = found.age_at(now)
        if found.is_fresh(age):
            if asked is None or request_allows_reuse(asked, int(age), found.lifetime):
                if target.has_conditions or target.asks_range:
                    return self._fresh(request, target, found, age)
                whole_age = int(age)  # the plain hit, the common case, without a call more
                self._metrics.hit()
                return build_response(
                    found, whole_age, cache_status.hit(found.ttl(whole_age)), request.method is not HEAD
                )
            return self._fetch_once(Exchange(request, next, route, target, asked, found, "request"))
        if asked is None and found.serves_while_revalidating(age):
            return self._serve_stale_while_revalidating(Exchange(request, next, route, target, None, found, "stale"))
        return self._fetch_once(Exchange(request, next, route, target, asked, found, "stale"))

    def _bypass(self, request: HttpRequest, next: MiddlewareHandler, detail: str) -> HttpResponse:
        """The handler answers; the cache neither answers nor stores (RFC 9211 ``fwd=bypass``)."""
        response = next(request)
        trace = Trace("bypass")
        trace.fwd_status, trace.detail = capture(response, body_limit=0).status, detail
        return set_cache_status(response, self._rendered(trace))

    def _rendered(self, trace: Trace) -> str:
        """The ``Cache-Status`` of a response that leaves with ``trace``, counted (``stats``)."""
        self._metrics.record(trace)
        return trace.render()

    # -- lookup and fresh: answered from storage -------------------------------------------------

    def _lookup(self, target: RequestTarget, route: CachedRoute, now: float) -> StoredResponse | None:
        """The stored response this request may be given (``RoutePolicy.lookup``: the credentials rule)."""
        found = route.entries.find(target, route.policy.lookup(target.has_authorization), now)
        return None if isinstance(found, Missed) else found

    def _fresh(
        self,
        request: HttpRequest,
        target: RequestTarget,
        stored: StoredResponse,
        age: float,
        trace: Trace | None = None,
    ) -> HttpResponse:
        """An answer from storage: the stored response (a fresh hit without ``trace``), or the 304 /
        412 that the request's preconditions call for."""
        whole_age = int(age)
        if trace is None:
            self._metrics.hit()
            status = cache_status.hit(stored.ttl(whole_age))
        else:
            status = self._rendered(trace)
        if target.has_conditions:
            conditions = target.conditions()
            verdict = evaluate_representation(conditions, True, stored.status, stored.etag, stored.last_modified)
            answer = build_conditional_answer(
                verdict, stored.headers, {"age": [str(whole_age)], "cache-status": [status]}
            )
            if answer is not None:
                self._metrics.answered("304" if verdict.outcome is Outcome.NOT_MODIFIED else "412")
                return answer
        if target.asks_range and stored.status == 200 and request.method is GET:
            selection = self._selected_range(target, stored)
            if selection is not None:
                self._metrics.answered("416" if isinstance(selection, Unsatisfiable) else "206")
                return build_partial(stored, selection, whole_age, status)
        return build_response(stored, whole_age, status, with_body=request.method is not HEAD)

    @staticmethod
    def _selected_range(target: RequestTarget, stored: StoredResponse) -> ByteRange | Unsatisfiable | None:
        """The part of the stored body a ``Range`` request asks for (RFC 9110 §14.2), unless its
        ``If-Range`` says the representation changed (then the whole is sent)."""
        if not range_applies(target.field("if-range"), stored.etag, stored.last_modified):
            return None
        return select_range(target.field("range") or "", len(stored.body))

    # -- fetch: one caller runs the handler ------------------------------------------------------

    def _fetch_once(self, exchange: Exchange) -> HttpResponse:
        """Concurrent reads of one variant run the handler once (across processes too, with a
        storage that has locks); the others are answered from its answer, or go alone."""
        if exchange.asked is not None and exchange.asked.has("only-if-cached"):
            exchange.trace.detail = "only-if-cached"
            return set_cache_status(build_gateway_timeout(), self._rendered(exchange.trace))
        role = self._coalescer.join(exchange.flight_key, exchange.target.resource)
        if isinstance(role, Follow):
            answer = self._answer_follower(exchange, role.wait())
            return answer if answer is not None else self._fetch(exchange).response
        return self._lead(role, exchange, across_processes=True)

    def _serve_stale_while_revalidating(self, exchange: Exchange) -> HttpResponse:
        """The stale response at once, to every caller, while one refresh runs in the background (or,
        with ``background_revalidation=False``, while the first caller waits for it)."""
        stale = exchange.stale
        assert stale is not None
        role = self._coalescer.join(exchange.flight_key, exchange.target.resource)
        if isinstance(role, Lead) and not self._options.background_revalidation:
            return self._lead(role, exchange, across_processes=False)
        trace, age = exchange.trace, stale.age_at(self._now())
        trace.ttl, trace.detail = stale.ttl(int(age)), "stale-while-revalidate"
        answer = self._fresh(exchange.request, exchange.target, stale, age, trace)
        if isinstance(role, Lead):
            exchange.trace = Trace("stale")  # the refresh's own, which no one reads
            if not self._background.submit(lambda: self._lead(role, exchange, False), exchange.target.url):
                role.close()  # too many refreshes waiting: a later request schedules this one
        return answer

    @property
    def refreshing(self) -> int:
        """Background refreshes scheduled or running (stale-while-revalidate)."""
        return self._background.pending

    def _lead(self, role: Lead[Shared], exchange: Exchange, across_processes: bool) -> HttpResponse:
        """Run the handler for everyone waiting on this key (unless another process already did)."""
        try:
            entries = exchange.route.entries
            if across_processes and entries.has_locks and exchange.storage_available:
                found = role.claim_elsewhere(entries, lambda: self._stored_meanwhile(exchange))
                if found is not None:
                    return self._collapsed(exchange, found)
                if role.lock_failed:
                    exchange.storage_available = False  # one timeout per request at most
            fetched = self._fetch(exchange, role)
            role.share(fetched.shared)
            return fetched.response
        finally:
            role.close()

    def _fetch(self, exchange: Exchange, role: Lead[Shared] | None = None) -> Fetched:
        """Run the handler (validating the stale response), store what may be stored, answer.
        ``role``: the flight this caller leads, if it leads one."""
        try:
            response = self._validate_or_call(exchange)
        except Exception as error:
            fallback = self._stale_on_error(exchange, error=error)
            if fallback is None:
                raise
            return Fetched(fallback, HANDLER_FAILED)
        policy = exchange.route.policy
        upstream = capture(response, policy.max_body_size)
        if (exchange.trace.fwd_status or 0) >= 500:
            fallback = self._stale_on_error(exchange)
            if fallback is not None:
                return Fetched(fallback, HANDLER_FAILED)
        fields, shared = upstream.fields, None
        if exchange.request.method is GET:
            admission = self._store(exchange, response, upstream, role)
            fields += admission.added
            if isinstance(admission, Admitted) and not exchange.superseded:
                shared = SharedAnswer(admission.stored, admission.recipe, exchange.target.variant(admission.recipe))
        return Fetched(self._answer_handlers(exchange, response, fields, upstream.sets_cookie), shared)

    def _validate_or_call(self, exchange: Exchange) -> HttpResponse:
        """The handler's answer. With a stale stored response that has validators, the handler is
        asked whether it is still current (``If-None-Match`` / ``If-Modified-Since``, RFC 9111
        §4.3.1); its 304 freshens the stored response (§4.3.4), returned as a full response."""
        request, stale, trace = exchange.request, exchange.stale, exchange.trace
        exchange.requested_at = self._now()
        if request.method is GET and exchange.storage_available:
            # What its answer must not be older than: an invalidation after this refuses it.
            exchange.since = exchange.route.entries.storage_time()
            exchange.storage_available = exchange.since is not None
        offered = self._offered_for_validation(exchange) if request.method is GET else ()
        if offered:
            last_modified = stale.last_modified if stale is not None else None
            with validating(request, tuple(stored.etag for stored in offered if stored.etag), last_modified):
                response = exchange.next(request)
            trace.fwd_status = int(response.status_code)
            if trace.fwd_status != 304:
                return response
            etag = capture(response, body_limit=0).first("etag")
            confirmed = identified_for_update([stored.etag for stored in offered], etag)
            if stale is None and etag is None:
                confirmed = None  # across variants, only a 304 that names the response it confirms counts
            if confirmed is not None:
                return build_refreshed(offered[confirmed], response, format_http_date(self._now()))
            # The 304 names none of them, so none may be used (RFC 9111 §4.3.4): ask without them.
        response = exchange.next(request)
        trace.fwd_status = int(response.status_code)
        return response

    def _offered_for_validation(self, exchange: Exchange) -> tuple[StoredResponse, ...]:
        """The stored responses the handler is asked about: the stale one with validators, or
        after a ``vary-miss``, those stored for other request headers (``stored_for_others``)."""
        stale = exchange.stale
        if stale is not None:
            return (stale,) if stale.etag or stale.last_modified else ()
        missed = exchange.missed
        if missed is None or not exchange.storage_available or not exchange.route.policy.validate_variants:
            return ()
        lookup = exchange.route.policy.lookup(exchange.target.has_authorization)
        return exchange.route.entries.stored_for_others(exchange.target, missed, lookup, self._now())

    # -- store -----------------------------------------------------------------------------------

    def _store(
        self, exchange: Exchange, response: HttpResponse, upstream: UpstreamResponse, role: Lead[Shared] | None
    ) -> Admission:
        """Store the handler's answer to ``GET`` if it may be (``admission.admit``), and add the
        headers the cache adds to it. Not after an invalidation of its resource since the request
        looked (the flight ``role`` was retired here, or the index changed in storage): the answer
        may predate the write."""
        target, trace = exchange.target, exchange.trace
        admission = admit(
            upstream,
            exchange.route.policy,
            self._now(),
            has_authorization=target.has_authorization,
            has_credentials=target.has_credentials,
            requested_at=exchange.requested_at,
        )
        add_fields(response, admission.added)
        if isinstance(admission, Admitted) and upstream.status not in NO_CONTENT_LENGTH:
            add_fields(response, (("content-length", (str(upstream.size),)),))  # stored: its length is known
        if isinstance(admission, Refused):
            trace.detail = admission.reason
        elif exchange.asked is not None and exchange.asked.no_store:
            trace.detail = "request-no-store"  # not stored, but still given to followers
        elif role is not None and role.retired:
            exchange.superseded, trace.detail = True, Saved.INVALIDATED_MEANWHILE.value
        elif not exchange.storage_available:
            trace.detail = Saved.NOT_STORED.value
        else:
            groups = self._grouping.joined(exchange.route.policy, exchange.request, upstream)
            if groups is None:
                trace.detail = "groups-failed"
                return admission
            if admission.recipe.per_credentials and not self._options.secret_configured:
                self._say_secret_is_per_process()
            elif target.sends_cookie and not admission.recipe.per_credentials:
                self._say_cookie_is_shared(exchange.route.policy, admission.recipe)
            entries = exchange.route.entries
            saved = entries.save(
                target,
                admission.recipe,
                admission.stored,
                exchange.seen,
                groups,
                exchange.since,
                exchange.seen_blob,
                exchange.seen_blob_known,
            )
            trace.stored, exchange.superseded = saved is Saved.STORED, saved is Saved.INVALIDATED_MEANWHILE
            if not trace.stored:
                trace.detail = saved.value
                if saved in (Saved.GROUPS_UNSUPPORTED, Saved.TOO_MANY_GROUPS):
                    storage = type(self._storage.storage).__name__
                    self._grouping.refused(exchange.route.policy.route, saved, groups, storage)
        return admission

    def _say_cookie_is_shared(self, policy: RoutePolicy, recipe: VaryRecipe) -> None:
        """A shared response computed for a request with a ``Cookie``: if the handler read the cookie,
        every visitor now gets the first one's page. Said once per route."""
        if "cookie" in recipe.field_names:
            return  # keyed per cookie value: that is what was asked for
        self._faults.log(
            logging.WARNING,
            ("cookie", policy.route),
            "cache stored a response of route %s for a request with a Cookie, and gives it to every visitor: "
            "if the handler reads a cookie (a session, a tenant), key the route on it with "
            'cache_control="private" (one entry per user) or cache_vary=("cookie", ...) (one entry per '
            "cookie value); docs/security.md",
            policy.route,
        )

    def _say_secret_is_per_process(self) -> None:
        if not self._told_secret:
            self._told_secret = True
            logger.info(
                "cache stores per-user responses keyed with a secret of this process's own: other processes "
                "will not find them. Give every process the same CacheMiddleware(secret=...) to share them"
            )

    # -- answers ---------------------------------------------------------------------------------

    def _answer_handlers(
        self, exchange: Exchange, response: HttpResponse, fields: HeaderFields, sets_cookie: bool
    ) -> HttpResponse:
        """The handler's answer, or the 304/412 the request's preconditions call for, with its
        ``Cache-Status``."""
        status = self._rendered(exchange.trace)
        if exchange.target.has_conditions and not sets_cookie:  # a 304 would drop the cookie
            etag, last_modified = first_value(fields, "etag"), first_value(fields, "last-modified")
            conditions = exchange.target.conditions()
            verdict = evaluate_representation(conditions, True, int(response.status_code), etag, last_modified)
            answer = build_conditional_answer(verdict, fields, {"cache-status": [status]})
            if answer is not None:
                return answer
        return set_cache_status(response, status)

    def _answer_follower(self, exchange: Exchange, shared: Shared | None) -> HttpResponse | None:
        """What a waiting caller gets once the leader is done, if there is something that is its to have."""
        if isinstance(shared, SharedAnswer):
            same_variant = exchange.target.variant(shared.recipe) == shared.variant
            lookup = exchange.route.policy.lookup(exchange.target.has_authorization)
            if (
                same_variant
                and lookup.may_serve(shared.recipe, shared.stored)
                and self._still_current(exchange, shared)
            ):
                return self._collapsed(exchange, shared.stored)
        if shared is HANDLER_FAILED:
            return self._stale_on_error(exchange, collapsed=True)
        found = self._stored_meanwhile(exchange)  # e.g. the leader was given another process's response
        return None if found is None else self._collapsed(exchange, found)

    def _still_current(self, exchange: Exchange, shared: SharedAnswer) -> bool:
        """Whether the leader's answer is still current. Another process may have invalidated the
        resource after the leader stored it and before this caller was answered: on a storage that
        processes share, the index is asked once more (this process's own writes retire flights)."""
        if not self._storage.shared:
            return True
        return exchange.route.entries.generation_of(exchange.target.resource) == shared.stored.generation

    def _collapsed(self, exchange: Exchange, stored: StoredResponse) -> HttpResponse:
        """A waiting caller's answer from the response another caller fetched."""
        trace = exchange.trace
        trace.fwd_status, trace.collapsed = stored.status, True
        return self._fresh(exchange.request, exchange.target, stored, 0.0, trace)

    def _stale_on_error(
        self, exchange: Exchange, error: Exception | None = None, collapsed: bool = False
    ) -> HttpResponse | None:
        """The stale response within its stale-if-error window (RFC 5861), with its true age; else ``None``."""
        stale, trace = exchange.stale, exchange.trace
        if stale is None:
            return None
        age = stale.age_at(self._now())
        if not stale.serves_on_error(age):
            return None
        if not collapsed:
            failure = f"raised {error!r}" if error is not None else f"answered {trace.fwd_status}"
            self._faults.log(
                logging.ERROR,
                ("stale-if-error", exchange.route.policy.route),
                "handler of %s %s; serving the stored response, %ss old, within its stale-if-error window",
                exchange.route.policy.route,
                failure,
                int(age),
                exc_info=error,
            )
        trace.fwd, trace.ttl, trace.collapsed, trace.detail = "stale", stale.ttl(int(age)), collapsed, "stale-if-error"
        return self._fresh(exchange.request, exchange.target, stale, age, trace)

    def _stored_meanwhile(self, exchange: Exchange) -> StoredResponse | None:
        """A fresh response stored since this request looked (not the stale one it already had)."""
        now = self._now()
        found = self._lookup(exchange.target, exchange.route, now)
        if found is None or not found.is_fresh(found.age_at(now)):
            return None
        stale = exchange.stale
        return found if stale is None or found.stored_at > stale.stored_at else None

    # -- invalidate: writes ----------------------------------------------------------------------

    def _invalidate(self, request: HttpRequest, next: MiddlewareHandler, route: WriteRoute) -> HttpResponse:
        """A write: refused without the handler when its preconditions fail against the fresh
        stored representation; otherwise the handler answers, and a 2xx/3xx invalidates what it
        changed: its path on its host (every query string and variant, RFC 9111 §4.4), the
        same-origin paths in its ``Location`` and ``Content-Location``, and the cache groups its
        route's ``cache_invalidates`` and its ``Cache-Group-Invalidation`` name (RFC 9875 §3)."""
        target = RequestTarget(request, self._canonical_host, route.keying)
        policy = route.policy
        refusal = self._refuse_lost_update(target, policy.reads, route.entries)
        if refusal is not None:
            return refusal
        groups = self._grouping.invalidated_by_route(policy, request)
        response = next(request)
        upstream = capture(response, body_limit=0)
        trace = Trace("method")
        trace.fwd_status = upstream.status
        if 200 <= upstream.status < 400:
            trace.detail = "invalidated"
            named = upstream.values("location") + upstream.values("content-location")
            landed = True  # once the storage fails, the rest go to the retrier unattempted: one timeout at most
            for resource, url in changed_resources(target.host, target.path, target.resource, named):
                self._metrics.add("invalidations", "paths")
                self._coalescer.retire(resource)
                landed = route.entries.invalidate(resource, url or target.url, attempt=landed) and landed
            groups = (*groups, *self._grouping.invalidated_by_answer(policy.route, upstream))
            if groups:
                self._metrics.add("invalidations", "groups", len(set(groups)))
                unique = tuple(dict.fromkeys(groups))
                landed = route.entries.invalidate_groups(target.host, unique, attempt=landed) and landed
            if not landed:
                trace.detail = "invalidation-failed"
                self._metrics.add("invalidations", "failed")
        return set_cache_status(response, self._rendered(trace))

    def _refuse_lost_update(
        self, target: RequestTarget, policy: RoutePolicy, entries: EntryStore
    ) -> HttpResponse | None:
        """A 412 without running the handler when the write's preconditions fail against the
        fresh stored representation (lost-update protection); ``None`` to let the handler decide."""
        if not target.has_conditions:
            return None
        conditions = target.conditions()
        now = self._now()
        found = entries.find(target, policy.lookup(target.has_authorization), now)
        if isinstance(found, Missed):
            return None
        age = found.age_at(now)
        if not found.is_fresh(age):
            return None
        verdict = evaluate_representation(conditions, False, found.status, found.etag, found.last_modified)
        if verdict.outcome is not Outcome.PRECONDITION_FAILED:
            return None
        status = cache_status.hit(found.ttl(int(age)), detail="precondition-failed")
        self._metrics.answered("412")
        return build_precondition_failed(verdict.decided_by, {"cache-status": [status]})

    # -- purge -----------------------------------------------------------------------------------

    def purge(self, url: str) -> int:
        """Remove every stored response of a path, whatever its query string, variant and
        credentials: ``"/users/1"`` on every host, ``"https://api.example.com/users/1"`` on that
        host. A response to it computed before now is not stored after it. Returns how many stored
        responses were removed; a storage fault is raised (docs/invalidation.md)."""
        return self._purged("url", self._purger.purge(url))

    def purge_groups(self, *groups: str, host: str | None = None) -> int:
        """Remove the stored responses in cache ``groups`` (RFC 9875) of ``host``, or of every host.
        Returns how many were removed; a storage fault is raised."""
        return self._purged("groups", self._purger.purge_groups(groups, host))

    def purge_all(self) -> int | None:
        """Remove every response this cache stored, on every host (with the built-in storages).
        Returns how many were removed, or ``None`` where the storage does not count them (Redis
        starts a new epoch in one step, whatever it holds); a storage fault is raised."""
        removed = self._purger.purge_all()
        self._metrics.add("purges", "all")
        if removed is not None:
            self._metrics.add("purges", "responses_removed", removed)
        return removed

    def _purged(self, kind: str, removed: int) -> int:
        self._metrics.add("purges", kind)
        self._metrics.add("purges", "responses_removed", removed)
        return removed

    # -- metrics ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """This process's counters since the middleware was made (docs/deployment.md, "Metrics").

        ``responses`` by outcome (``hit``: answered from storage, ``stale``: a stale response
        served from storage, and each ``Cache-Status`` ``fwd`` reason: ``uri-miss``,
        ``vary-miss``, ``stale``, ``request``, ``method``, ``bypass``); ``collapsed`` (given
        another request's answer); ``revalidated`` (refreshed by the handler's 304);
        ``answered_from_storage`` (304, 412, 206 and 416 by status); ``stored`` and ``not_stored``
        by reason; ``invalidations`` (``paths``, ``groups``, ``failed``); ``purges``; and
        ``storage``: faults, seconds the cache rested from it, and the storage's own figures
        where it has ``stats()`` (the in-memory storage: items, responses, bytes, evictions).
        """
        guard = self._storage
        storage: dict[str, Any] = {
            "faults": self._faults.count,
            "rested_seconds": guard.reads.rested + guard.writes.rested + guard.lock_calls.rested,
        }
        own = getattr(guard.storage, "stats", None)
        if callable(own):
            try:
                storage.update(own())
            except Exception as error:  # figures are never worth an error
                self._faults.report("stats", error, "stats()")
        return {**self._metrics.snapshot(), "storage": storage}

    # -- routes ----------------------------------------------------------------------------------

    def _first_request(self, method: HttpMethod, route: Route) -> CachedRoute | WriteRoute | None:
        """The route's policy, built and validated on its first request, then remembered."""
        try:
            return self._prepare(method, route)
        except (TypeError, ValueError) as error:
            # Through WSGI, chocs answers a bare 500: the log line is where the reason shows.
            self._faults.log(
                logging.ERROR,
                ("keyword", route.route),
                "cache middleware cannot serve %s %s: %s",
                method,
                route.route,
                error,
            )
            raise

    def _prepare(self, method: HttpMethod, route: Route) -> CachedRoute | WriteRoute | None:
        """Build and remember how the cache treats ``method`` on ``route``. Every route with an
        unsafe method invalidates; a route with a safe method uses the cache when it has
        ``cache_expiry`` or ``cache=True``. Keywords that do nothing are said once, at WARNING."""
        entries = EntryStore(self._storage, route.route)
        cached: CachedRoute | WriteRoute | None = None
        secret = self._options.secret
        if method in UNSAFE_METHODS:
            write = build_write_policy(route.route, route.attributes, self._options)
            cached = WriteRoute(write, entries, Keying(secret, write.reads.selections))
            said_about = advice(route.route, route.attributes, stores=True)
        else:
            policy = build_policy(route.route, route.attributes, self._options)
            said_about = advice(route.route, route.attributes, stores=policy is not None)
            if policy is not None and method in self._safe_methods:
                cached = CachedRoute(policy, entries, Keying(secret, policy.selections))
        for said in said_about:
            self._faults.log(logging.WARNING, ("advice", route.route, said), "%s", said)
        if cached is not None and not self._looked_at_server:
            self._looked_at_server = True
            self._say_if_processes_do_not_share(self._storage)
        self._routes[(id(method), route.route)] = cached
        return cached

    def attach(self, app: Application) -> Application:
        """Check every route's cache keywords now, and answer ``HEAD`` from storage on every cached
        ``GET`` route. Call it once the routes are registered (at start-up).

        A mistake on any route raises here (all of them in one error), instead of on that route's
        first request. Each cached ``GET`` route without a ``HEAD`` route of its own gets one
        (chocs routes a ``HEAD`` only to a route registered for it): answered from the ``GET``
        entry when it is stored, else by the ``GET`` handler without its body. The middleware is
        added to ``app`` if it is not there yet. Returns ``app``.
        """
        routes = registered_routes(app)
        self._app = app
        if not routes:
            logger.warning(
                "CacheMiddleware.attach(app) found no routes: call it once they are registered. Routes registered "
                "later are checked on their first request, and HEAD is answered for their cached GET all the same"
            )
        mistakes: list[Exception] = []
        for method, route, _ in routes:
            try:
                self._prepare(method, route)
            except (TypeError, ValueError) as error:
                mistakes.append(error)
        if len(mistakes) == 1:
            raise mistakes[0]
        if mistakes:
            listed = "\n".join(f"- {mistake}" for mistake in mistakes)
            raise ValueError(f"{len(mistakes)} mistakes in cache keywords:\n{listed}")
        with_head = {route.route for method, route, _ in routes if method is HEAD}
        for method, route, handler in routes:
            if method is GET and route.route not in with_head and self._routes.get((id(GET), route.route)):
                add_head_route(app, route, handler)
                self._prepare(HEAD, route)
        use_middleware(app, self)
        return app

    def _route_late_head(self, request: HttpRequest) -> bool:
        """Route a ``HEAD`` chocs could not route to the cached ``GET`` route of its path, if there is
        one (registered after ``attach``, which routes the others); whether it did."""
        assert self._app is not None
        matched = match_get_route(self._app, request)
        if matched is None:
            return False
        route, handler = matched
        cached = self._routes.get((id(GET), route.route), _UNKNOWN)
        if cached is _UNKNOWN:
            cached = self._first_request(GET, route)
        if cached is None:
            return False
        answer_head_with(request, route, handler)
        return True

    def _say_if_processes_do_not_share(self, guard: StorageGuard) -> None:
        """One WARNING when a storage that only this process sees serves a WSGI server that runs
        several processes: a write through one worker leaves the others' copies as they were."""
        if guard.process_local and served_by_several_processes():
            logger.warning(
                "cache storage %s is this process's own, but the WSGI server runs several processes "
                "(wsgi.multiprocess): a write through one leaves the others serving the old version. Use "
                "RedisCacheStorage (or TieredCacheStorage(RedisCacheStorage(...))) to share one cache; "
                "docs/deployment.md",
                type(guard.storage).__name__,
            )

    def _request_directives(self, target: RequestTarget) -> CacheControl | None:
        lines = target.field_lines("cache-control")
        return parse_cache_control(lines) if lines else None
