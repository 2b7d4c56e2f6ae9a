"""The values the read flow's steps hand each other: what a request is (``Read``), why it goes to
the handler (``Miss``), what the handler said (``Asked``), what a leader gives its followers
(``SharedAnswer``). All immutable: a step returns a new value, it never writes on a carrier.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Union

from ..decisions.values import StoredResponse, VaryRecipe
from ..entries.outcomes import Missed, Seen
from ..entries.target import RequestTarget
from ..semantics.cache_control import CacheControl
from .port import Called, Native
from .routes import CachedRoute

__all__ = ["HANDLER_FAILED", "Asked", "Fetched", "HandlerFailed", "Miss", "Read", "Shared", "SharedAnswer"]


class Read(NamedTuple):
    """A read (``GET`` or ``HEAD`` on a cached route) on its way through the flow."""

    request: Native
    next: Native
    route: CachedRoute
    target: RequestTarget
    asked: CacheControl | None
    """The request's own ``Cache-Control``, when the middleware honours it."""


class Miss(NamedTuple):
    """Why a read goes to the handler, and what storage had for it."""

    reason: str
    """RFC 9211 ``fwd``: ``uri-miss``, ``vary-miss``, ``stale`` or ``request``."""
    stale: StoredResponse | None = None
    """What storage had for this request, no longer fresh (or ``no-cache``, or refused by the
    request's own directives): to validate, or to serve when the handler fails."""
    missed: Missed | None = None
    """What the lookup found instead of a response this request may be given, on a miss."""

    @property
    def seen(self) -> Seen:
        """The index the lookup saw: the handler's answer is stored only while it is still there."""
        if self.missed is not None:
            return self.missed.seen
        return Seen(None if self.stale is None else self.stale.generation)

    @property
    def storage_available(self) -> bool:
        """The lookup could ask the storage (no fault, no resting breaker)."""
        return self.missed is None or not self.missed.unavailable


class Asked(NamedTuple):
    """The handler's answer to a read."""

    called: Called[Any]
    """Its answer; or, when its 304 confirmed a stored response, that response refreshed."""
    requested_at: float
    """When the request went to the handler (epoch seconds): an answer's ``Age`` counts from then."""
    since: float | None
    """The storage's time when the request went to the handler: an invalidation after it refuses
    the answer. ``None``: the storage is unavailable to this request (it is not stored)."""


class SharedAnswer(NamedTuple):
    """What the caller that ran the handler gives the callers that waited for it."""

    stored: StoredResponse
    """As stored: stamped with the generation of the index that lists it."""
    recipe: VaryRecipe
    variant: str
    """The variant id it was stored under: a follower is given it only for the same variant."""
    seen: str | None
    """The generation of the index the leader's lookup saw."""

    def current_for(self, seen: str | None) -> bool:
        """Whether a follower whose lookup saw the index of generation ``seen`` may take it: it looked
        before the leader stored (the same index the leader saw) or after (the index it stored
        under). Any other generation means an invalidation came between: the follower goes alone.
        No storage read: the leader's answer is taken as it is."""
        return seen == self.seen or seen == self.stored.generation


class HandlerFailed:
    """The handler raised or answered 5xx: followers may be given the stale response instead."""


HANDLER_FAILED = HandlerFailed()
Shared = Union[SharedAnswer, HandlerFailed]


class Fetched(NamedTuple):
    """The handler's answer as it leaves the cache, and what it gives waiting callers."""

    response: Any
    shared: Shared | None
