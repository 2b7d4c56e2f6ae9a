"""Answers the cache gives without the handler, or on top of its answer: a stored response, the 304 /
412 / 206 / 416 a request's preconditions and ``Range`` call for (RFC 9110 §13, §14), a stale
response when the handler fails (RFC 5861), and the ``Cache-Status`` every response carries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from ..common.faults import FaultLog
from ..common.memo import BoundedMemo
from ..decisions.values import HeaderFields, StoredResponse, first_value, not_modified_fields
from ..entries.target import RequestTarget
from ..semantics.preconditions import Conditions, Outcome, Verdict, evaluate_representation
from ..semantics.ranges import ByteRange, Unsatisfiable, range_applies, select_range
from . import trace as cache_status
from .context import Miss, Read
from .metrics import Metrics
from .port import Called, Port
from .trace import Trace

__all__ = ["Answers"]

Response = TypeVar("Response")


class Answers(Generic[Response]):
    """Responses made from storage, or from the handler's answer with what the cache adds."""

    def __init__(self, port: Port[Response], metrics: Metrics, faults: FaultLog, now: Callable[[], float]) -> None:
        self._port = port
        self._metrics = metrics
        self._faults = faults
        self._now = now

    def rendered(self, trace: Trace) -> str:
        """The ``Cache-Status`` of a response that leaves with ``trace``, counted (``stats``)."""
        self._metrics.record(trace)
        return trace.render()

    def stored(
        self, target: RequestTarget, head: bool, stored: StoredResponse, age: float, trace: Trace | None = None
    ) -> Response:
        """An answer from storage to a ``GET`` (``HEAD`` when ``head``): the stored response (a
        fresh hit, without ``trace``), or the 304, 412, 206 or 416 that the request's
        preconditions and ``Range`` call for."""
        whole_age = int(age)
        if trace is None:
            self._metrics.hit()
            status = cache_status.hit(stored.ttl(whole_age))
        else:
            status = self.rendered(trace)
        if target.has_conditions:
            verdict = _verdict(target.conditions(), stored)
            answer = self._conditional(
                verdict, stored.not_modified_fields, {"age": [str(whole_age)], "cache-status": [status]}
            )
            if answer is not None:
                self._metrics.answered("304" if verdict.outcome is Outcome.NOT_MODIFIED else "412")
                return answer
        if target.asks_range and stored.status == 200 and not head:
            selection = _selected_range(target, stored)
            if selection is not None:
                self._metrics.answered("416" if isinstance(selection, Unsatisfiable) else "206")
                return self._port.partial(stored, selection, whole_age, status)
        return self._port.stored(stored, whole_age, status, not head)

    def handlers(self, read: Read, called: Called[Response], fields: HeaderFields, trace: Trace) -> Response:
        """The handler's answer, or the 304/412 the request's preconditions call for (RFC 9110
        §13.2.2), with its ``Cache-Status``."""
        status = self.rendered(trace)
        target, upstream = read.target, called.upstream
        if target.has_conditions and not upstream.sets_cookie:  # a 304 would drop the cookie
            etag, last_modified = first_value(fields, "etag"), first_value(fields, "last-modified")
            verdict = evaluate_representation(target.conditions(), True, upstream.status, etag, last_modified)
            answer = self._conditional(verdict, not_modified_fields(fields), {"cache-status": [status]})
            if answer is not None:
                return answer
        return self._port.add_fields(called.response, (("cache-status", (status,)),))

    def _conditional(self, verdict: Verdict, fields: HeaderFields, extra: dict[str, list[str]]) -> Response | None:
        """The 304 (with ``fields``: what it carries of the representation) or 412 that ``verdict``
        calls for; ``None`` to proceed."""
        if verdict.outcome is Outcome.NOT_MODIFIED:
            return self._port.not_modified(fields, extra)
        if verdict.outcome is Outcome.PRECONDITION_FAILED:
            return self._port.precondition_failed(verdict.decided_by, extra)
        return None

    def collapsed(self, read: Read, stored: StoredResponse, trace: Trace) -> Response:
        """A waiting caller's answer from the response another caller fetched."""
        trace.fwd_status, trace.collapsed = stored.status, True
        return self.stored(read.target, read.route.head, stored, 0.0, trace)

    def stale_on_error(
        self, read: Read, miss: Miss, trace: Trace, failure: str | None, error: Exception | None = None
    ) -> Response | None:
        """The stale response within its stale-if-error window (RFC 5861), with its true age; else
        ``None``. ``failure``: what the handler did (logged), ``None`` for a caller that waited for
        the one that saw it fail."""
        stale = miss.stale
        if stale is None:
            return None
        age = stale.age_at(self._now())
        if not stale.serves_on_error(age):
            return None
        if failure is not None:
            route = read.route.policy.route
            self._faults.log(
                logging.ERROR,
                ("stale-if-error", route),
                "handler of %s %s; serving the stored response, %ss old, within its stale-if-error window",
                route,
                failure,
                int(age),
                exc_info=error,
            )
        trace.fwd, trace.ttl, trace.detail = "stale", stale.ttl(int(age)), "stale-if-error"
        trace.collapsed = failure is None
        return self.stored(read.target, read.route.head, stale, age, trace)

    def only_if_cached(self, trace: Trace) -> Response:
        """A 504 for ``Cache-Control: only-if-cached`` when nothing usable is stored."""
        trace.detail = "only-if-cached"
        return self._port.gateway_timeout(self.rendered(trace))


_VERDICTS: BoundedMemo[tuple[Conditions, int, str | None, str | None], Verdict] = BoundedMemo(None, 4096, 1024)
"""Verdicts on stored responses, remembered: clients revalidate a hot response with the same
validators again and again (``evaluate`` is a pure function of these values)."""


def _verdict(conditions: Conditions, stored: StoredResponse) -> Verdict:
    key = (conditions, stored.status, stored.etag, stored.last_modified)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        size = sum(len(value) for value in conditions if value)
        verdict = _VERDICTS.remember(
            key, evaluate_representation(conditions, True, stored.status, stored.etag, stored.last_modified), size
        )
    return verdict


def _selected_range(target: RequestTarget, stored: StoredResponse) -> ByteRange | Unsatisfiable | None:
    """The part of the stored body a ``Range`` request asks for (RFC 9110 §14.2), unless its
    ``If-Range`` says the representation changed (then the whole is sent)."""
    if not range_applies(target.field("if-range"), stored.etag, stored.last_modified):
        return None
    return select_range(target.field("range") or "", len(stored.body))
