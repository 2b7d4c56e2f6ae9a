"""*Validate*, *fetch* and *store* (``docs/design.md``, "Request flow"): the handler answers a read
the cache could not answer from storage, and its answer is stored when it may be.

``Fetcher.fetch`` is the three steps, each returning a value: ``ask`` (the handler's answer, or the
stored response its 304 confirmed, as ``Asked``), ``admit`` (``decisions.admission``: whether and
how it is kept), ``store`` (``Stored`` or ``NotStored`` with the reason), then the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from ..common.faults import FaultLog
from ..decisions.admission import Admission, Admitted, Refused, admit
from ..decisions.observed import ReadInputs, describe_key, note, read_everything
from ..decisions.options import MiddlewareOptions
from ..decisions.values import NO_CONTENT_LENGTH, StoredResponse, VaryRecipe, refreshed_fields
from ..entries.guard import StorageGuard
from ..entries.outcomes import HeldLock, NotStored, Refusal, Stored
from ..semantics.dates import format_http_date
from ..semantics.entity_tags import identified_for_update
from .answers import Answers
from .context import HANDLER_FAILED, Asked, Fetched, Miss, Read, SharedAnswer
from .grouping import Grouping
from .port import Port, Validators
from .trace import Trace

__all__ = ["Fetcher"]

Response = TypeVar("Response")
logger = logging.getLogger("chocs_middleware.cache")


class Fetcher(Generic[Response]):
    """Runs the handler for a read, stores what may be stored, and answers."""

    def __init__(
        self,
        port: Port[Response],
        answers: Answers[Response],
        guard: StorageGuard,
        grouping: Grouping,
        options: MiddlewareOptions,
        faults: FaultLog,
    ) -> None:
        self._port = port
        self._answers = answers
        self._guard = guard
        self._grouping = grouping
        self._options = options
        self._faults = faults
        self._now = options.clock.time
        self._told_secret = False

    def fetch(
        self,
        read: Read,
        miss: Miss,
        trace: Trace,
        storage_available: bool,
        superseded: Callable[[], bool],
        held: HeldLock | None = None,
    ) -> Fetched:
        """Run the handler (validating what is stored), store what may be stored, answer.
        ``superseded``: whether this process invalidated the resource while the handler ran;
        ``held``: the lock across processes the caller holds (the store releases it as it writes)."""
        try:
            asked = self.ask(read, miss, trace, storage_available)
        except Exception as error:
            fallback = self._answers.stale_on_error(read, miss, trace, f"raised {error!r}", error)
            if fallback is None:
                raise
            return Fetched(fallback, HANDLER_FAILED)
        upstream = asked.called.upstream
        if upstream.status >= 500:
            fallback = self._answers.stale_on_error(read, miss, trace, f"answered {upstream.status}")
            if fallback is not None:
                return Fetched(fallback, HANDLER_FAILED)
        fields, shared = upstream.fields, None
        if not read.route.head:  # only a GET's answer is a representation to store
            admission, stored = self.store(read, miss, asked, trace, superseded, held)
            fields += admission.added
            if isinstance(admission, Admitted) and stored is not None:
                target = read.target
                shared = SharedAnswer(stored, admission.recipe, target.variant(admission.recipe), miss.seen.generation)
        return Fetched(self._answers.handlers(read, asked.called, fields, trace), shared)

    def ask(self, read: Read, miss: Miss, trace: Trace, storage_available: bool) -> Asked:
        """The handler's answer. With stored responses it may confirm (the stale one with
        validators, or on a ``vary-miss`` those stored for other request headers), the handler is
        asked whether one is current (``If-None-Match`` / ``If-Modified-Since``, RFC 9111 §4.3.1);
        its 304 freshens the one it names (§4.3.4), given back as a full answer."""
        requested_at = self._now()
        since = None
        if storage_available and not read.route.head:
            claim = miss.missed.claim if miss.missed is not None else None
            # An invalidation after ``since`` refuses the answer: the lookup read it, or it is read now.
            since = claim.since if claim is not None else self._guard.storage_time(read.route.policy.route)
        body_limit = read.route.policy.max_body_size
        offered = self._offered(read, miss, since is not None) if not read.route.head else ()
        if offered:
            last_modified = miss.stale.last_modified if miss.stale is not None else None
            validators = Validators(tuple(stored.etag for stored in offered if stored.etag), last_modified)
            called = self._port.call(read.request, read.next, validators, body_limit, read.route.observes)
            trace.fwd_status = called.upstream.status
            if called.upstream.status != 304:
                return Asked(called, requested_at, since)
            etag = called.upstream.first("etag")
            confirmed = identified_for_update([stored.etag for stored in offered], etag)
            if miss.stale is None and etag is None:
                confirmed = None  # across variants, only a 304 that names the response it confirms counts
            if confirmed is not None:
                stored = offered[confirmed]
                fields = refreshed_fields(stored, called.upstream.fields, format_http_date(self._now()))
                refreshed = self._port.refreshed(stored, fields, called)
                return Asked(refreshed, requested_at, since)
            # The 304 names none of them, so none may be used (RFC 9111 §4.3.4): ask without them.
        called = self._port.call(read.request, read.next, None, body_limit, read.route.observes)
        trace.fwd_status = called.upstream.status
        return Asked(called, requested_at, since)

    def _offered(self, read: Read, miss: Miss, storage_available: bool) -> tuple[StoredResponse, ...]:
        """The stored responses the handler is asked about: the stale one with validators, or after a
        ``vary-miss`` on a route that opted in, those stored for other request headers."""
        stale = miss.stale
        if stale is not None:
            return (stale,) if stale.etag or stale.last_modified else ()
        route = read.route
        if miss.missed is None or not storage_available or not route.policy.validate_variants:
            return ()
        lookup = route.learned.lookup(read.target.has_authorization)
        return route.entries.stored_for_others(read.target, miss.missed, lookup, self._now())

    def store(
        self,
        read: Read,
        miss: Miss,
        asked: Asked,
        trace: Trace,
        superseded: Callable[[], bool],
        held: HeldLock | None = None,
    ) -> tuple[Admission, StoredResponse | None]:
        """Store the handler's answer to ``GET`` if it may be (``admission.admit``), adding the
        fields the cache adds to it. Not after an invalidation of its resource since the request
        looked (``superseded`` in this process, or the index changed in storage): the answer may
        predate the write. Returns the admission and what the callers that waited may be given:
        the response as stored, or as admitted when it could not be stored for another reason
        (``None``: nothing, it may predate a write)."""
        target, upstream = read.target, asked.called.upstream
        admission = admit(
            upstream,
            read.route.policy,
            self._now(),
            has_authorization=target.has_authorization,
            has_credentials=target.has_credentials,
            requested_at=asked.requested_at,
            read=asked.called.inputs,
        )
        added = admission.added
        if isinstance(admission, Admitted) and upstream.status not in NO_CONTENT_LENGTH:
            added = (*added, ("content-length", (str(upstream.size),)))  # stored: its length is known
        self._port.add_fields(asked.called.response, added)
        if isinstance(admission, Refused):
            trace.detail = admission.reason
            return admission, None
        outcome = self._save(read, miss, asked, admission, superseded, held)
        if isinstance(outcome, Stored):
            trace.stored = True
            read.route.learned.stored(admission.recipe, target.has_authorization)
            self._say_how_it_is_keyed(read, admission.recipe, asked.called.inputs, trace)
            return admission, outcome.response
        trace.detail = outcome.reason.value if isinstance(outcome, NotStored) else outcome
        if isinstance(outcome, NotStored) and outcome.reason is Refusal.SUPERSEDED:
            return admission, None
        return admission, admission.stored  # not stored, but still given to the callers that waited

    def _save(
        self,
        read: Read,
        miss: Miss,
        asked: Asked,
        admission: Admitted,
        superseded: Callable[[], bool],
        held: HeldLock | None,
    ) -> Stored | NotStored | str:
        """Where the admitted answer goes: stored, or why not (a ``Refusal``, or a detail)."""
        if read.asked is not None and read.asked.no_store:
            return "request-no-store"
        if superseded():
            return NotStored(Refusal.SUPERSEDED)
        if asked.since is None:
            return NotStored(Refusal.STORAGE_UNAVAILABLE)
        policy = read.route.policy
        groups = self._grouping.joined(policy, read.target.parameters, read.request, asked.called.upstream)
        if groups is None:
            return "groups-failed"
        stored = admission.stored
        if self._options.debug:  # inspect shows what it was stored for
            stored = replace(stored, noted=self._noted(read, admission.recipe, groups))
        outcome = read.route.entries.save(read.target, admission.recipe, stored, miss.seen, groups, asked.since, held)
        if isinstance(outcome, NotStored) and outcome.reason in (Refusal.GROUPS_UNSUPPORTED, Refusal.TOO_MANY_GROUPS):
            self._grouping.refused(policy.route, outcome.reason, groups, type(self._guard.storage).__name__)
        return outcome

    @staticmethod
    def _noted(read: Read, recipe: VaryRecipe, groups: tuple[str, ...]) -> str:
        target = read.target
        values = {name: target.field(name) for name in recipe.field_names}
        return note(recipe, values, target.keyed_query(recipe), groups)

    def _say_how_it_is_keyed(self, read: Read, recipe: VaryRecipe, inputs: ReadInputs | None, trace: Trace) -> None:
        """What a stored response's key says to whoever reads ``Cache-Status`` and the logs: its
        inputs (``key=``, with ``debug``); a key on every header, cookie or query parameter
        (``detail``; for headers and cookies, once per route, a WARNING naming the way out); and
        what ``_say_what_is_shared`` says."""
        if self._options.debug:
            trace.key = describe_key(recipe)
        everything = read_everything(recipe, inputs)
        if everything is not None:
            trace.detail = f"keyed-on-all-{everything}"
            if everything != "query":  # the whole query string is what declared keying keys on anyway
                word = "header" if everything == "headers" else "cookie"
                route = read.route.policy.route
                self._faults.log(
                    logging.WARNING,
                    ("every-input", route, everything),
                    "cache keys the responses of route %s on every request %s, because its handler read them "
                    "all (iterated or copied them): few requests will share one. Read them by name, or name those "
                    'that do not change the response in cache_ignore=("%s:<name>", ...); docs/caching.md',
                    route,
                    word,
                    word,
                )
        self._say_what_is_shared(read, recipe)

    def _say_what_is_shared(self, read: Read, recipe: VaryRecipe) -> None:
        """Once: per-user entries keyed with a secret only this process knows; and per route with
        declared keying, a shared response computed for a request with a ``Cookie`` (its handler
        may read it: observed keying would have keyed on it)."""
        if recipe.per_credentials or recipe.cookies:
            if self._options.secret is None and not self._told_secret:
                self._told_secret = True
                logger.info(
                    "cache stores per-user responses keyed with a secret of this process's own: other processes "
                    "will not find them. Give every process the same CacheMiddleware(secret=...) to share them"
                )
        elif read.target.sends_cookie and "cookie" not in recipe.field_names and not read.route.observes:
            route = read.route.policy.route
            self._faults.log(
                logging.WARNING,
                ("cookie", route),
                "cache stored a response of route %s for a request with a Cookie, and gives it to every visitor: "
                "if the handler reads a cookie (a session, a tenant), key the route on it with "
                'cache_control="private" (one entry per user) or cache_vary=("cookie", ...) (one entry per '
                "cookie value); docs/security.md",
                route,
            )
