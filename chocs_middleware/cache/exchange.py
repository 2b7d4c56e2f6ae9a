"""The values the read flow passes between its steps (``middleware.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Union

from .cache_status import Trace
from .entries import StoredResponse, VaryRecipe
from .entry_store import EntryStore, Missed
from .policy import RoutePolicy, WritePolicy
from .semantics.cache_control import CacheControl

if TYPE_CHECKING:  # chocs types, named here only in annotations
    from .adapter import HttpRequest, HttpResponse, Keying, MiddlewareHandler, RequestTarget

__all__ = [
    "HANDLER_FAILED",
    "CachedRoute",
    "Exchange",
    "Fetched",
    "HandlerFailed",
    "Shared",
    "SharedAnswer",
    "WriteRoute",
]


class CachedRoute(NamedTuple):
    """A route (path pattern and safe method) the cache serves: how it is cached, and its entries
    (which name it in logs)."""

    policy: RoutePolicy
    entries: EntryStore
    keying: Keying
    """How its variants are keyed (the secret, the values it produces)."""
    writes: bool = False


class WriteRoute(NamedTuple):
    """A route with an unsafe method: a successful answer invalidates what it changed."""

    policy: WritePolicy
    entries: EntryStore
    keying: Keying
    writes: bool = True


class SharedAnswer(NamedTuple):
    """What the caller that ran the handler gives the callers that waited for it."""

    stored: StoredResponse
    recipe: VaryRecipe
    variant: str
    """The variant id it was stored under: a follower is given it only for the same variant."""


class HandlerFailed:
    """The handler raised or answered 5xx: followers may be given the stale response instead."""


HANDLER_FAILED = HandlerFailed()
Shared = Union[SharedAnswer, HandlerFailed]


class Exchange:
    """A read the cache could not answer from storage at once, on its way to the handler."""

    __slots__ = (
        "asked",
        "missed",
        "next",
        "request",
        "requested_at",
        "route",
        "seen",
        "since",
        "stale",
        "storage_available",
        "superseded",
        "target",
        "trace",
    )

    def __init__(
        self,
        request: HttpRequest,
        next: MiddlewareHandler,
        route: CachedRoute,
        target: RequestTarget,
        asked: CacheControl | None,
        found: StoredResponse | Missed,
        reason: str,
    ) -> None:
        self.request = request
        self.next = next
        self.route = route
        self.target = target
        self.asked = asked
        """The request's own ``Cache-Control``, when the middleware honours it."""
        self.stale: StoredResponse | None = None if isinstance(found, Missed) else found
        """What storage had for this request, no longer fresh (or ``no-cache``, or refused by the
        request's own directives): to validate, or to serve when the handler fails."""
        self.missed = found if isinstance(found, Missed) else None
        """What the lookup found instead of a response this request may be given, on a miss."""
        self.seen = found.generation
        """The generation of the resource's index the lookup saw: what the handler answers is
        stored only while no invalidation replaced it."""
        self.storage_available = not (isinstance(found, Missed) and found.unavailable)
        self.superseded = False
        """A write invalidated the resource while the handler ran: its answer may predate the write."""
        self.requested_at = 0.0
        """When the request went to the handler (epoch seconds): an answer's ``Age`` counts from then."""
        self.since: float | None = None
        """The storage's time when the request went to the handler: an invalidation of the answer's
        groups after it refuses the answer (``EntryStore.save``)."""
        self.trace = Trace(reason)
        """What happened, for ``Cache-Status``; ``reason`` is why the request goes to the handler."""

    @property
    def seen_blob(self) -> bytes | None:
        """The index entry the lookup read (on a miss): the store compares against it first."""
        return None if self.missed is None else self.missed.index_blob

    @property
    def seen_blob_known(self) -> bool:
        """Whether the lookup's view of the index is known: it asked the storage, and missed."""
        return self.missed is not None and not self.missed.unavailable

    @property
    def flight_key(self) -> str:
        """Concurrent reads with the same key are answered by one run of the handler."""
        lookup = self.route.policy.lookup(self.target.has_authorization)
        return self.target.variant(lookup.recipe)


class Fetched(NamedTuple):
    """The handler's answer as it leaves the cache, and what it gives waiting callers."""

    response: HttpResponse
    shared: Shared | None
