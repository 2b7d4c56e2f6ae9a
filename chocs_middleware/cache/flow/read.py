"""The read flow (``docs/design.md``, "Request flow"): a ``GET`` or ``HEAD`` on a cached route.

``ReadFlow.read`` is the chart: *lookup* the variant this request may be given; answer it
*fresh* from storage; serve a stale one while one caller refreshes it; or *coalesce*: one caller
per key runs the handler (``fetch.py``) and the others wait for its answer, or go alone. Each step
returns a value; the ``Trace`` they record is rendered once, into ``Cache-Status``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..decisions.values import StoredResponse
from ..entries.outcomes import Claimed, Missed
from ..entries.target import RequestTarget
from ..semantics.cache_control import CacheControl, parse_cache_control
from ..semantics.freshness import request_allows_reuse
from . import trace as cache_status
from .answers import Answers
from .background import Background
from .context import HANDLER_FAILED, Miss, Read, Shared, SharedAnswer
from .fetch import Fetcher
from .flights import Claim, Coalescer, Follow, Lead
from .metrics import Metrics
from .port import Native, Port
from .routes import CachedRoute
from .trace import Trace

__all__ = ["ReadFlow"]

Response = TypeVar("Response")


class ReadFlow(Generic[Response]):
    """Reads on cached routes, for one middleware."""

    def __init__(
        self,
        port: Port[Response],
        answers: Answers[Response],
        fetcher: Fetcher[Response],
        flights: Coalescer[Shared],
        background: Background,
        metrics: Metrics,
        honour_request_cache_control: bool,
        background_revalidation: bool,
        now: Callable[[], float],
    ) -> None:
        self._port = port
        self._answers = answers
        self._fetcher = fetcher
        self._flights = flights
        self._background = background
        self._metrics = metrics
        self._honour_request_cache_control = honour_request_cache_control
        self._background_revalidation = background_revalidation
        self._now = now

    def read(self, request: Native, next: Native, route: CachedRoute, target: RequestTarget) -> Response:
        """The answer to a read: from storage when it may be, else from the handler, once per key."""
        if target.has_body:  # a GET with a body: its answer may depend on it
            return self._bypass(request, next, "request-body")
        asked = self._request_directives(target) if self._honour_request_cache_control else None
        now = self._now()
        learned = route.learned
        if target.has_authorization:
            lookup, learn = learned.authorized, learned.learn_authorized
        else:
            lookup, learn = learned.anonymous, learned.learn_anonymous
        found = route.entries.find(target, lookup, now, self._flights.timeout, learn)
        if found.__class__ is Missed:  # nothing stored that this request may be given
            return self.once(Read(request, next, route, target, asked), Miss(found.reason, None, found))
        stored: StoredResponse = found  # type: ignore[assignment]
        if target.pending_ids:  # a URL asked for again: its ids are remembered from now on
            target.remember_ids()
        age = stored.age_at(now)
        if stored.is_fresh(age):
            if asked is None or request_allows_reuse(asked, int(age), stored.lifetime):
                if target.has_conditions or target.asks_range:
                    return self._answers.stored(target, route.head, stored, age)
                whole_age = int(age)  # the plain hit, the common case, without a call more
                self._metrics.hit()
                status = cache_status.hit(stored.ttl(whole_age))
                return self._port.stored(stored, whole_age, status, not route.head)
            return self.once(Read(request, next, route, target, asked), Miss("request", stored))
        if asked is None and stored.serves_while_revalidating(age):
            return self._stale_while_revalidating(Read(request, next, route, target, None), Miss("stale", stored))
        return self.once(Read(request, next, route, target, asked), Miss("stale", stored))

    def _bypass(self, request: Native, next: Native, detail: str) -> Response:
        """The handler answers; the cache neither answers nor stores (RFC 9211 ``fwd=bypass``)."""
        called = self._port.call(request, next, None, 0)
        trace = Trace("bypass")
        trace.fwd_status, trace.detail = called.upstream.status, detail
        return self._port.add_fields(called.response, (("cache-status", (self._answers.rendered(trace),)),))

    @staticmethod
    def _request_directives(target: RequestTarget) -> CacheControl | None:
        lines = target.field_lines("cache-control")
        return parse_cache_control(lines) if lines else None

    # -- coalesce: one caller runs the handler ---------------------------------------------------

    def once(self, read: Read, miss: Miss) -> Response:
        """Concurrent reads of one variant run the handler once (across processes too, with a
        storage that has locks); the others are answered from its answer, or go alone."""
        trace = Trace(miss.reason)
        claim = miss.missed.claim if miss.missed is not None else None
        if read.asked is not None and read.asked.has("only-if-cached"):
            self._unclaim(read, claim)
            return self._answers.only_if_cached(trace)
        role = self._flights.join(self._flight_key(read), read.target.resource)
        if isinstance(role, Follow):
            if claim is not None and claim.token is not None and not role.hand_over(claim.token):
                self._unclaim(read, claim)  # the lock goes to this process's leader, or back
            answer = self._follow(read, miss, trace, role.wait())
            if answer is not None:
                return answer
            alone: Response = self._fetcher.fetch(read, miss, trace, miss.storage_available, _never).response
            return alone
        return self._lead(role, read, miss, trace, across_processes=True, claim=claim)

    @staticmethod
    def _unclaim(read: Read, claim: Claimed | None) -> None:
        """Give back a lock the lookup took for a request that does not lead."""
        if claim is not None and claim.token is not None:
            read.route.entries.release_lock(ReadFlow._flight_key(read), claim.token)

    @staticmethod
    def _flight_key(read: Read) -> str:
        """Concurrent reads with the same key are answered by one run of the handler."""
        return read.target.variant(read.route.learned.lookup(read.target.has_authorization).recipe)

    def _lead(
        self,
        role: Lead[Shared],
        read: Read,
        miss: Miss,
        trace: Trace,
        across_processes: bool,
        claim: Claimed | None = None,
    ) -> Response:
        """Run the handler for everyone waiting on this key (unless another process already did).
        ``claim``: the lock as the lookup asked for it."""
        try:
            storage_available = miss.storage_available
            if across_processes and storage_available and read.route.entries.has_locks:
                claimed = role.claim_elsewhere(read.route.entries, lambda: self._stored_meanwhile(read, miss), claim)
                if not isinstance(claimed, Claim):
                    return self._answers.collapsed(read, claimed, trace)
                storage_available = claimed is Claim.RUN  # the lock failed: one timeout per request at most
            fetched = self._fetcher.fetch(read, miss, trace, storage_available, lambda: role.superseded, role.held)
            role.share(fetched.shared)
            response: Response = fetched.response
            return response
        finally:
            role.close(read.route.entries)

    def _follow(self, read: Read, miss: Miss, trace: Trace, shared: Shared | None) -> Response | None:
        """What a waiting caller gets once the leader is done, if there is something that is its to
        have: the leader's answer as it stored it, without reading storage again."""
        if isinstance(shared, SharedAnswer):
            lookup = read.route.learned.lookup(read.target.has_authorization)
            if (
                read.target.variant(shared.recipe) == shared.variant
                and lookup.may_serve(shared.recipe, shared.stored)
                and shared.current_for(miss.seen.generation)
            ):
                return self._answers.collapsed(read, shared.stored, trace)
        if shared is HANDLER_FAILED:
            return self._answers.stale_on_error(read, miss, trace, None)
        found = self._stored_meanwhile(read, miss)  # e.g. the leader was given another process's response
        return None if found is None else self._answers.collapsed(read, found, trace)

    def _stored_meanwhile(self, read: Read, miss: Miss) -> StoredResponse | None:
        """A fresh response stored since this request looked: not the one it already had (a fresh
        one its request's ``Cache-Control`` refused). Told apart by value, not by ``stored_at``: a
        copy a 304 confirmed counts from the 304's ``Date``, whole seconds, so it may seem stored
        a little before the stale copy it confirmed."""
        now = self._now()
        found = read.route.entries.find(read.target, read.route.learned.lookup(read.target.has_authorization), now)
        if isinstance(found, Missed) or not found.is_fresh(found.age_at(now)):
            return None
        return found if found != miss.stale else None

    def _stale_while_revalidating(self, read: Read, miss: Miss) -> Response:
        """The stale response at once, to every caller, while one refresh runs in the background (or,
        with ``background_revalidation=False``, while the first caller waits for it)."""
        stale = miss.stale
        assert stale is not None
        role = self._flights.join(self._flight_key(read), read.target.resource)
        if isinstance(role, Lead) and not self._background_revalidation:
            return self._lead(role, read, miss, Trace(miss.reason), across_processes=False)
        trace, age = Trace(miss.reason), stale.age_at(self._now())
        trace.ttl, trace.detail = stale.ttl(int(age)), "stale-while-revalidate"
        answer = self._answers.stored(read.target, read.route.head, stale, age, trace)
        if isinstance(role, Lead) and not self._background.submit(
            lambda: self._refresh(role, read, miss), read.target.url
        ):
            role.close()  # too many refreshes waiting: a later request schedules this one
        return answer

    def _refresh(self, role: Lead[Shared], read: Read, miss: Miss) -> None:
        """A background refresh, unless another one stored a fresh response since this request
        looked (it saw the stale one just before that refresh finished): one run per refresh."""
        if self._stored_meanwhile(read, miss) is not None:
            role.close(read.route.entries)
            return
        self._lead(role, read, miss, Trace("stale"), across_processes=False)  # its own trace, which no one reads


def _never() -> bool:
    return False
