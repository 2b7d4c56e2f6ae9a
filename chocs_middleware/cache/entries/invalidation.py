"""Invalidation on any storage (``docs/design.md``, "Storage model"): a path gets a new
generation, a group is invalidated by the storage, and what the storage does not take is
remembered and retried in the background (``pending.py``) until it lands.

Words, used the same way in the code and the docs: *invalidate* makes stored responses unusable;
a path is invalidated by giving its index a new *generation* (the index left behind is an
*invalidated index*, which remembers when); groups, a path on every host and everything carry an
*invalidation time* on the storage's clock; a response computed before an invalidation of what it
would be stored under is *superseded* (``Cache-Status: ...; detail=invalidated-meanwhile``); an
invalidation the storage has not taken yet is *pending*. A *tombstone* is storage-level only: the
empty, expired item that removes an entry from a storage without ``collect``.
"""

from __future__ import annotations

import logging
import threading

from ..decisions.values import ResourceIndex, new_generation
from ..error import WriteRefused
from .guard import INDEXES, StorageGuard, Unavailable
from .ids import group_id
from .layout import item
from .pending import Kind, Pending, Retrier
from .serialisation import encode_index

__all__ = ["INVALIDATION_SECONDS", "Invalidator"]

INVALIDATION_SECONDS = 3600
"""An invalidated index, and an invalidation time, are kept at least this long (an invalidated
index as long as what it replaced): a miss in flight longer than that, which saw no index at
all, could store what it computed before."""
_RETRIERS = threading.Lock()


class Invalidator:
    """Invalidation of one route's paths and groups on the guarded storage (names it in logs)."""

    def __init__(self, guard: StorageGuard, route: str) -> None:
        self._guard = guard
        self._now = guard.clock.time
        self.route = route

    def invalidate(self, resource: str, url: str, attempt: bool = True) -> bool:
        """Make every stored variant of ``resource`` (at ``url``) unusable: its index gets a new
        generation. Attempted even while writes rest (``attempt=False``: not attempted at all,
        because the storage already failed this request). When the storage does not take it, this
        process remembers it, logs it at ERROR, and retries it in the background until it lands.
        Returns whether the storage took it."""
        now = self._now()
        pending = self._guard.pending
        if attempt and self._new_generation(resource, now):
            if pending.active:
                pending.done(resource)
            return True
        self._remember(Pending(resource, Kind.PATH, url), now)
        self._guard.faults.log(
            logging.ERROR,
            ("invalidation", self.route),
            "cache could not invalidate %s (route %s): this process will not serve what was stored "
            "before, and retries in the background; other processes sharing the storage may serve it until then",
            url,
            self.route,
        )
        return False

    def invalidate_groups(self, host: str, groups: tuple[str, ...], attempt: bool = True) -> bool:
        """Make every stored response in ``groups`` of ``host`` unusable (RFC 9875), and refuse
        responses to those groups computed before now. When the storage does not take it (or
        ``attempt`` is False), this process logs it at ERROR and retries it in the background.
        Returns whether the storage took it."""
        ids = [group_id(host, group) for group in groups]
        guard = self._guard
        if guard.grouped is None:
            guard.local.invalidate(ids)  # nothing grouped is stored there: only refuse what is in flight
            return True
        if attempt:
            done = guard.attempt(
                guard.writes,
                "invalidate groups",
                self.route,
                guard.grouped.invalidate_groups,
                ids,
                INVALIDATION_SECONDS,
                even_resting=True,
            )
            if not isinstance(done, Unavailable):
                return True
        now = self._now()
        for group, name in zip(ids, groups):
            self._remember(Pending(group, Kind.GROUP, f"group {name!r} of {host}"), now)
        guard.faults.log(
            logging.ERROR,
            ("group invalidation", self.route),
            "cache could not invalidate the groups %s of %s (route %s): it retries in the background; until "
            "then their stored responses may be served",
            ", ".join(groups),
            host,
            self.route,
        )
        return False

    def _remember(self, pending: Pending, now: float) -> None:
        guard = self._guard
        guard.pending.add(pending, now)
        with _RETRIERS:
            if guard.retrier is None:
                retrying = guard.retrying = Invalidator(
                    guard, "retry"
                )  # kept by the guard: the retrier holds it weakly
                guard.retrier = Retrier(guard.pending, retrying.retry)
        guard.retrier.wake()

    def retry(self, pending: Pending) -> bool:
        """Try a pending invalidation again (the ``Retrier`` does, in the background); whether it landed."""
        guard = self._guard
        if pending.kind is Kind.PATH or guard.grouped is None:
            landed = self._new_generation(pending.name, self._now())
        else:
            done = guard.attempt(
                guard.writes,
                "invalidate groups",
                self.route,
                guard.grouped.invalidate_groups,
                [pending.name],
                INVALIDATION_SECONDS,
                even_resting=True,
            )
            landed = not isinstance(done, Unavailable)
        if landed:
            guard.faults.log(
                logging.WARNING, ("invalidated", pending.name), "cache invalidated %s on a retry", pending.description
            )
        return landed

    def _new_generation(self, resource: str, now: float) -> bool:
        guard = self._guard
        done = guard.attempt(guard.writes, "set", self.route, self.replace_index, resource, now, even_resting=True)
        return not isinstance(done, Unavailable)

    def replace_index(self, resource: str, now: float, only_if_stored: bool = False) -> int:
        """Give the index of ``resource`` a new generation (an invalidated index), and remove the
        variants it listed. Returns how many of those were still live. A storage fault is raised.

        ``only_if_stored``: leave a path with no index alone (a purge on every host, whose
        invalidation time refuses what is in flight). The invalidated index is bookkeeping that is
        never needed (``needed_for=0``): a bounded storage drops it before anything else, and never
        a response for one. When the storage refuses writes (``WriteRefused``: Redis out of memory
        under ``noeviction``), the index and its variants are deleted instead, which such a
        storage accepts, and the error is raised: the new generation is still to be written, by a
        retry.
        """
        guard = self._guard
        with guard.index_lock(resource):
            index = guard.read(resource, INDEXES, self.route)
            if index is None and only_if_stored:
                return 0
            kept_until = max(now + INVALIDATION_SECONDS, index.expires_at if index is not None else 0.0)
            invalidated = ResourceIndex.invalidated(new_generation(), now, kept_until)
            written = item(resource, encode_index(invalidated), kept_until, now)
            written.needed_for = 0
            try:
                guard.storage.set(written)
            except WriteRefused:
                guard.remove(resource, self.route)  # nothing of it can be found any more; a retry writes it
                self._remove_variants(index)
                raise
        live = [variant for variant, expires_at in index.variants if expires_at > now] if index is not None else []
        self._remove_variants(index)  # only to free room: the new generation already hides them
        return len(live)

    def _remove_variants(self, index: ResourceIndex | None) -> None:
        """Remove the variants ``index`` lists that are stored apart (the one it carries went with it)."""
        if index is None:
            return
        carried = index.carried_variant
        for variant, _ in index.variants:
            if variant != carried:
                self._guard.remove(variant, self.route)
