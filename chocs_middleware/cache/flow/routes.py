"""How the cache treats each route and method: built and checked once, then remembered.

A route with a safe method that has ``cache_expiry`` or ``cache=True`` is a ``CachedRoute``; a
route with an unsafe method, any route, is a ``WriteRoute`` (it invalidates what it changes);
anything else the cache leaves alone. Keywords that do nothing are said once, at WARNING.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import NamedTuple

from ..common.faults import FaultLog
from ..decisions.credentials import Lookup
from ..decisions.keywords import advice
from ..decisions.options import MiddlewareOptions
from ..decisions.routes import RoutePolicy, WritePolicy, build_policy, build_write_policy
from ..decisions.values import VaryRecipe
from ..entries.guard import StorageGuard
from ..entries.invalidation import Invalidator
from ..entries.store import EntryStore
from ..entries.target import Keying

__all__ = ["UNSAFE_METHODS", "CachedRoute", "Learned", "Routes", "WriteRoute"]

UNSAFE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


class Learned:
    """How a route's requests are looked up first, learned from what it stored last: with
    observed keying a response's recipe holds what its handler read, which the route's keywords
    do not say. A guess that saves a read: the lookup tries the index's other recipes after it."""

    __slots__ = ("anonymous", "authorized", "learn_anonymous", "learn_authorized")

    def __init__(self, policy: RoutePolicy) -> None:
        self.anonymous: Lookup = policy.anonymous_lookup
        self.authorized: Lookup = policy.authorized_lookup
        self.learn_anonymous: Callable[[VaryRecipe], None] = lambda recipe: self.stored(recipe, False)
        """For ``EntryStore.find``: a response was found under ``recipe`` (made once, not per request)."""
        self.learn_authorized: Callable[[VaryRecipe], None] = lambda recipe: self.stored(recipe, True)

    def lookup(self, has_authorization: bool) -> Lookup:
        return self.authorized if has_authorization else self.anonymous

    def stored(self, recipe: VaryRecipe, has_authorization: bool) -> None:
        """A response of the route was stored (or found) under ``recipe`` for such a request."""
        if has_authorization:
            if self.authorized.recipe is not recipe:  # recipes are interned (``observed_recipe``)
                self.authorized = self.authorized._replace(recipe=recipe)
        elif self.anonymous.recipe is not recipe:
            self.anonymous = self.anonymous._replace(recipe=recipe)


class CachedRoute(NamedTuple):
    """A route (path pattern and safe method) the cache serves."""

    policy: RoutePolicy
    entries: EntryStore
    """Its entries (which name it in logs)."""
    keying: Keying
    """How its variants are keyed (the secret, the values it produces, the inputs ignored)."""
    head: bool
    """It answers ``HEAD``: with the stored headers, and no body."""
    learned: Learned
    """How its requests are looked up first."""
    writes: bool = False

    @property
    def observes(self) -> bool:
        """Its handler's reads are recorded on a miss (observed keying)."""
        return self.policy.keying == "observed"


class WriteRoute(NamedTuple):
    """A route with an unsafe method: a successful answer invalidates what it changed."""

    policy: WritePolicy
    entries: EntryStore
    """The entries of its path, looked up for lost-update protection."""
    invalidator: Invalidator
    keying: Keying
    writes: bool = True


class Routes:
    """Builds what the cache does for a method on a route (``prepare``)."""

    def __init__(self, guard: StorageGuard, options: MiddlewareOptions, faults: FaultLog) -> None:
        self._guard = guard
        self._options = options
        self._faults = faults

    def prepare(self, method: str, pattern: str, attributes: Mapping[str, object]) -> CachedRoute | WriteRoute | None:
        """How the cache treats ``method`` on the route ``pattern`` with its keyword ``attributes``;
        a mistake in a keyword raises ``TypeError``/``ValueError`` naming the route and the keyword.
        Every route with an unsafe method invalidates; a route with a safe method uses the cache
        when it has ``cache_expiry`` or ``cache=True``."""
        entries = EntryStore(self._guard, pattern, self._options.purge_patterns)
        secret = self._options.secret_key
        prepared: CachedRoute | WriteRoute | None = None
        if method in UNSAFE_METHODS:
            write = build_write_policy(pattern, attributes, self._options)
            invalidator = Invalidator(self._guard, pattern)
            prepared = WriteRoute(write, entries, invalidator, Keying(secret, write.reads.selections))
            said = advice(pattern, attributes, stores=True)
        else:
            policy = build_policy(pattern, attributes, self._options)
            said = advice(pattern, attributes, stores=policy is not None)
            if policy is not None and method in self._options.safe_methods:
                keying = Keying(secret, policy.selections, policy.ignored)
                prepared = CachedRoute(policy, entries, keying, method == "HEAD", Learned(policy))
        for line in said:
            self._faults.log(logging.WARNING, ("advice", pattern, line), "%s", line)
        return prepared

    def failed(self, method: str, pattern: str, error: Exception) -> None:
        """Log a keyword mistake: through WSGI the client sees a bare 500, so the log is where it shows."""
        self._faults.log(
            logging.ERROR, ("keyword", pattern), "cache middleware cannot serve %s %s: %s", method, pattern, error
        )
