"""Which cache groups (RFC 9875) a stored response joins, and which a write invalidates.

Names come from a route's keywords (``cache_groups``, ``cache_invalidates``: templates of the path
parameters, or a function of the request; ``decisions.group_names``) and from the handler's
``Cache-Groups`` / ``Cache-Group-Invalidation`` fields. The app's mistakes are logged once a
minute per route and kind, and never reach a client as an error, but for a failing
``cache_invalidates``: it refuses the write before its handler runs, so that nothing changes that
the cache could then not invalidate (docs/invalidation.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..common.faults import RateLimitedLog
from ..decisions.group_names import GroupNames
from ..decisions.routes import RoutePolicy, WritePolicy
from ..decisions.values import UpstreamResponse
from ..entries.outcomes import Refusal
from ..semantics.groups import CACHE_GROUP_INVALIDATION, CACHE_GROUPS, parse_groups
from .port import Native

__all__ = ["Grouping"]


class Grouping:
    """Group names for the flow, with the app's mistakes logged on ``log``."""

    def __init__(self, log: RateLimitedLog) -> None:
        self._log = log

    def joined(
        self, policy: RoutePolicy, parameters: Mapping[str, object], request: Native, upstream: UpstreamResponse
    ) -> tuple[str, ...] | None:
        """The groups the handler's answer joins: the route's ``cache_groups`` and the answer's
        ``Cache-Groups``, each once; ``None`` when the route's function for them failed (logged).
        ``parameters``: the request's path parameters; ``request``: the framework's, for a function."""
        names: tuple[str, ...] = ()
        if policy.groups is not None:
            consequence = "its responses are not stored"
            try:
                names = self._named("cache_groups", policy.groups, policy.route, parameters, request, consequence)
            except Exception:
                return None
        lines = upstream.values(CACHE_GROUPS)
        if lines:
            names = (*names, *self._parsed(lines, "Cache-Groups", policy.route))
        return tuple(dict.fromkeys(names))

    def invalidated_by_route(
        self, policy: WritePolicy, parameters: Mapping[str, object], request: Native
    ) -> tuple[str, ...]:
        """The route's ``cache_invalidates``, named before the handler runs: a mistake in the keyword
        fails the request (logged, then raised) before anything changed."""
        if policy.invalidates is None:
            return ()
        consequence = "the request was refused before its handler ran"
        return self._named("cache_invalidates", policy.invalidates, policy.route, parameters, request, consequence)

    def invalidated_by_answer(self, route: str, upstream: UpstreamResponse) -> tuple[str, ...]:
        """The groups a successful write's ``Cache-Group-Invalidation`` names (RFC 9875 §3)."""
        lines = upstream.values(CACHE_GROUP_INVALIDATION)
        return self._parsed(lines, "Cache-Group-Invalidation", route) if lines else ()

    def refused(self, route: str, refusal: Refusal, groups: tuple[str, ...], storage: str) -> None:
        """Log why responses of ``route`` in ``groups`` could not be stored (``storage``: its class)."""
        if refusal is Refusal.GROUPS_UNSUPPORTED:
            reason = f"{storage} cannot keep cache groups (IGroupCacheStorage)"
        else:
            reason = f"{len(groups)} groups, or a group longer than the cache keeps"
        self._log.log(logging.WARNING, ("groups refused", route), "responses of route %s not stored: %s", route, reason)

    def _named(
        self,
        keyword: str,
        names: GroupNames,
        route: str,
        parameters: Mapping[str, object],
        request: Native,
        consequence: str,
    ) -> tuple[str, ...]:
        """The groups route keyword ``keyword`` names for ``request``; when that fails (a template
        of a parameter the path lacks, the app's function raising), the failure is logged, with
        its ``consequence``, and raised."""
        try:
            return names.names(parameters, request)
        except Exception as error:
            self._log.log(
                logging.ERROR,
                (keyword, route),
                "%s of route %s failed (%s): %s",
                keyword,
                route,
                error,
                consequence,
                exc_info=error,
            )
            raise

    def _parsed(self, lines: tuple[str, ...], field: str, route: str) -> tuple[str, ...]:
        parsed = parse_groups(lines)
        if parsed.problem is not None:  # RFC 9651 §4.2: ignored; logged, as it is the app's own mistake
            self._log.log(
                logging.WARNING,
                (field, route),
                "%s of a response of route %s ignored: %s",
                field,
                route,
                parsed.problem,
            )
        return parsed.groups
