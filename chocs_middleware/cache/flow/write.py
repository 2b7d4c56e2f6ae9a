"""The write flow (``docs/design.md``, "Request flow"): ``POST``, ``PUT``, ``PATCH`` and ``DELETE``.

A write whose preconditions fail against the fresh stored representation is refused without its
handler (lost-update protection, RFC 9110 §13.1); otherwise the handler answers, and a 2xx or 3xx
invalidates what it changed: its path on its host (every query string and variant, RFC 9111
§4.4), the same-origin paths in its ``Location`` and ``Content-Location``, and the cache groups
its route's ``cache_invalidates`` and its ``Cache-Group-Invalidation`` name (RFC 9875 §3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..entries.ids import changed_resources
from ..entries.outcomes import Missed
from ..entries.target import RequestTarget
from ..semantics.preconditions import Outcome, evaluate_representation
from . import trace as cache_status
from .answers import Answers
from .grouping import Grouping
from .metrics import Metrics
from .port import Native, Port
from .routes import WriteRoute
from .trace import Trace

__all__ = ["WriteFlow"]

Response = TypeVar("Response")


class WriteFlow(Generic[Response]):
    """Writes on any route, for one middleware."""

    def __init__(
        self,
        port: Port[Response],
        answers: Answers[Response],
        grouping: Grouping,
        metrics: Metrics,
        supersede: Callable[[str], None],
        now: Callable[[], float],
    ) -> None:
        self._port = port
        self._answers = answers
        self._grouping = grouping
        self._metrics = metrics
        self._supersede = supersede
        self._now = now

    def write(self, request: Native, next: Native, route: WriteRoute, target: RequestTarget) -> Response:
        refusal = self._refuse_lost_update(route, target)
        if refusal is not None:
            return refusal
        policy = route.policy
        groups = self._grouping.invalidated_by_route(policy, target.parameters, request)
        called = self._port.call(request, next, None, 0)
        upstream = called.upstream
        trace = Trace("method")
        trace.fwd_status = upstream.status
        if 200 <= upstream.status < 400:
            named = upstream.values("location") + upstream.values("content-location")
            groups = (*groups, *self._grouping.invalidated_by_answer(policy.route, upstream))
            landed = self._invalidate(route, target, named, tuple(dict.fromkeys(groups)))
            trace.detail = "invalidated" if landed else "invalidation-failed"
        return self._port.add_fields(called.response, (("cache-status", (self._answers.rendered(trace),)),))

    def _invalidate(
        self, route: WriteRoute, target: RequestTarget, named: tuple[str, ...], groups: tuple[str, ...]
    ) -> bool:
        """Invalidate the paths and groups a write changed; whether the storage took all of it. Once
        it fails, the rest goes to the background retry unattempted: one timeout per request at most."""
        landed = True
        for resource, url in changed_resources(target.host, target.path, target.resource, named):
            self._metrics.add("invalidations", "paths")
            self._supersede(resource)
            landed = route.invalidator.invalidate(resource, url or target.url, attempt=landed) and landed
        if groups:
            self._metrics.add("invalidations", "groups", len(groups))
            landed = route.invalidator.invalidate_groups(target.host, groups, attempt=landed) and landed
        if not landed:
            self._metrics.add("invalidations", "failed")
        return landed

    def _refuse_lost_update(self, route: WriteRoute, target: RequestTarget) -> Response | None:
        """A 412 without running the handler when the write's preconditions fail against the fresh
        stored representation (lost-update protection); ``None`` to let the handler decide."""
        if not target.has_conditions:
            return None
        reads, now = route.policy.reads, self._now()
        found = route.entries.find(target, reads.lookup(target.has_authorization), now)
        if isinstance(found, Missed):
            return None
        age = found.age_at(now)
        if not found.is_fresh(age):
            return None
        verdict = evaluate_representation(target.conditions(), False, found.status, found.etag, found.last_modified)
        if verdict.outcome is not Outcome.PRECONDITION_FAILED:
            return None
        status = cache_status.hit(found.ttl(int(age)), detail="precondition-failed")
        self._metrics.answered("412")
        return self._port.precondition_failed(verdict.decided_by, {"cache-status": [status]})
