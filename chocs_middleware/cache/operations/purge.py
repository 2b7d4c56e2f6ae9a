"""Invalidation on request: one path, groups, or everything (docs/invalidation.md).

``CacheMiddleware.purge``, ``purge_groups`` and ``purge_all`` and the command line
(``python -m chocs_middleware.cache purge``) run these. Unlike the request flow, which serves
around a failing storage, a purge raises what the storage raised: whoever asked must know that
it did not happen. On a storage whose changes reach in-process tiers (``synchronise``), a purge
returns once every listening process has dropped its copies, and raises ``NotAcknowledged``
when some did not within a second.

On a shared storage each cost is independent of how much else is stored: a path on one host
replaces one index; a path on every host and a group are one step of the storage that removes
what it lists (every stored response joins its path's group and its groups on its host and on
every host); ``purge_all`` starts a new epoch (Redis). A storage only this process uses keeps
less per response, and a purge on every host there visits the hosts it has seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from ..entries.guard import INDEXES, StorageGuard
from ..entries.ids import (
    HOSTS,
    MAX_PREFIX_DEPTH,
    group_id,
    host_name,
    path_group_id,
    prefix_group,
    resource_id,
    resource_path,
    template_group,
)
from ..entries.invalidation import INVALIDATION_SECONDS, Invalidator
from ..entries.soften import soften
from ..error import CacheError, NotAcknowledged
from ..storages.protocol import IMarkingCacheStorage

__all__ = ["SYNCHRONISE_SECONDS", "Purger", "split_url"]

SYNCHRONISE_SECONDS = 1.0
_Removed = TypeVar("_Removed", int, "int | None")


def split_url(url: object) -> tuple[str | None, str]:
    """(host, path) of what to purge: ``"/users/1"`` is a path on every host (``None``), an
    absolute URL (``"https://api.example.com/users/1"``) a path on its host (lower case, without
    a default port). Query strings and fragments are left out: a purge reaches every query string
    of the path."""
    if not isinstance(url, str) or not url.strip():
        raise TypeError(f"purge needs a path such as '/users/1' or an absolute URL, got {url!r}")
    text = url.strip()
    if text.startswith("/") and not text.startswith("//"):
        return None, unquote(urlsplit(text).path) or "/"
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"purge needs a path such as '/users/1' or an absolute http(s) URL such as "
            f"'https://api.example.com/users/1', got {url!r}"
        )
    host = parts.hostname + (f":{parts.port}" if parts.port is not None else "")
    return host_name(host), unquote(parts.path) or "/"


def _group_names(groups: Iterable[object]) -> tuple[str, ...]:
    names: list[str] = []
    for name in groups:
        if not isinstance(name, str):
            raise TypeError(f"purge_groups needs group names (strings), got {name!r}")
        names.append(name)
    return tuple(names)


def _prefix(prefix: str) -> tuple[str | None, str, bool]:
    """(host, the prefix's group, whether the path itself is purged too: ``/reports`` reaches
    ``/reports`` and what is under ``/reports/``); a prefix too shallow or too deep is refused."""
    host, path = split_url(prefix)
    if path == "/":
        raise ValueError("purge_prefix('/') would purge everything: use purge_all()")
    directory = resource_path(path if path.endswith("/") else path + "/")
    if directory.count("/") - 1 > MAX_PREFIX_DEPTH:
        raise ValueError(
            f"purge_prefix({prefix!r}) is deeper than the {MAX_PREFIX_DEPTH} levels a stored path is listed "
            f"under; purge a shallower prefix, or the paths themselves"
        )
    return host, prefix_group(directory), not path.endswith("/")


class Purger:
    """Purges on one storage. ``canonical_host`` maps a host as the middleware does;
    ``supersede(resource)`` is told each path index replaced (the middleware supersedes its flights)."""

    def __init__(
        self,
        guard: StorageGuard,
        canonical_host: Callable[[str], str] | None = None,
        supersede: Callable[[str], None] = lambda resource: None,
        soft_window: int | None = None,
    ) -> None:
        self._guard = guard
        self._invalidator = Invalidator(guard, "purge")
        self._canonical_host = canonical_host
        self._supersede = supersede
        self._soft_window = soft_window
        """How long a soft-purged response may still be served stale (``None``: its own windows)."""

    def purge(self, url: str, soft: bool = False) -> int:
        """Make every stored response of the path unusable, whatever its query string, variant and
        credentials: on every host for a bare path, on its host for an absolute URL. Returns how
        many stored responses were removed (of a path on one host, those its index lists: the 16
        newest; the others are made unusable, and not counted). A route template
        (``/users/{user_id}``) purges every path of that route (``purge_patterns``). ``soft``: make
        them stale instead of removing them (``entries/soften.py``)."""
        host, path = split_url(url)
        if "{" in path:
            return self._purge_pattern(template_group(path), host, f"the template {path}", soft)
        if soft:
            return self._soften([path_group_id(path)], self._members(url))
        guard, grouped = self._guard, self._guard.grouped
        if host is None and grouped is not None and not guard.process_local:
            # Its group lists its responses on every host, and its mark refuses one computed before now.
            return self._acknowledged(grouped.invalidate_groups([path_group_id(path)], INVALIDATION_SECONDS))
        if host is None:
            self._mark([path_group_id(path)])  # on any host: a response computed before now is refused
        now = guard.clock.time()
        removed = 0
        for name in self.hosts() if host is None else [self._host(host)]:
            resource = resource_id(name, path)
            self._supersede(resource)
            removed += self._invalidator.replace_index(resource, now, only_if_stored=host is None)
        return self._acknowledged(removed)

    def purge_prefix(self, prefix: str, soft: bool = False) -> int:
        """Remove every stored response of the paths under ``prefix`` (``/reports/``: ``/reports/1``,
        ``/reports/2024/q1``; ``/reports`` also reaches ``/reports`` itself), on every host, whatever
        their query strings and variants (``purge_patterns``). Returns how many were removed."""
        host, group, with_path = _prefix(prefix)
        removed = self._purge_pattern(group, host, f"the prefix {prefix}", soft)
        return removed + self.purge(prefix, soft) if with_path else removed

    def _purge_pattern(self, group: str, host: str | None, what: str, soft: bool = False) -> int:
        """Remove (or soften) the responses in a template or prefix group: kept as a cache group
        is, on ``host`` or on every host."""
        self._need_groups(what)
        return self.purge_groups([group], host, soft)

    def _need_groups(self, what: str) -> None:
        if self._guard.grouped is None:
            storage = type(self._guard.storage).__name__
            raise TypeError(
                f"purging {what} needs a storage that keeps groups (IGroupCacheStorage); {storage} does not"
            )

    def _soften(self, marks: list[str], members: Sequence[str]) -> int:
        """Make ``members`` stale in place, after marking ``marks`` invalidated now (a response a
        request in flight computed before this is not stored); how many were made stale."""
        guard = self._guard
        if guard.grouped is None:
            guard.local.invalidate(marks)
        elif isinstance(guard.storage, IMarkingCacheStorage):
            guard.storage.mark_groups(marks, INVALIDATION_SECONDS)
        else:
            storage = type(guard.storage).__name__
            raise TypeError(
                f"a soft purge needs a storage that can mark groups (IMarkingCacheStorage); {storage} cannot"
            )
        return self._acknowledged(soften(guard, members, guard.clock.time(), self._soft_window))

    def _members(self, url: str) -> list[str]:
        """The ids of the stored responses of a URL's path (of every host for a bare path)."""
        host, path = split_url(url)
        guard, grouped = self._guard, self._guard.grouped
        if host is None and grouped is not None and not guard.process_local:
            return grouped.group_members(path_group_id(path))
        now = guard.clock.time()
        hosts = self.hosts() if host is None else [self._host(host)]
        return [variant for name in hosts for variant in self._live_variants(resource_id(name, path), now)]

    def purge_groups(self, groups: Iterable[object], host: str | None = None, soft: bool = False) -> int:
        """Remove the stored responses in ``groups`` (RFC 9875): of ``host``, or of every host when
        ``None``. Returns how many were removed (0 on a storage that cannot keep groups, which
        stores no grouped response)."""
        names = _group_names(groups)
        if not names:
            return 0
        grouped = self._guard.grouped
        if grouped is None:
            self._guard.local.invalidate(self._group_ids(names, host))
            return 0
        ids = self._group_ids(names, host)
        if soft:
            return self._soften(ids, self._members_of(ids))
        return self._acknowledged(grouped.invalidate_groups(ids, INVALIDATION_SECONDS))

    def _group_ids(self, names: tuple[str, ...], host: str | None) -> list[str]:
        """The ids of groups ``names`` of ``host`` or of every host: on every host one id (its mark,
        and on a shared storage its list), and on a storage only this process uses one per host
        known too (such a storage lists members on their host only)."""
        scope = None if host is None else self._host(host)
        ids = [group_id(scope, name) for name in names]
        if host is None and self._guard.grouped is not None and self._guard.process_local:
            ids += [group_id(known, name) for known in self.hosts() for name in names]
        return ids

    def _members_of(self, ids: list[str]) -> list[str]:
        """The items listed in the groups ``ids``, each once."""
        grouped = self._guard.grouped
        assert grouped is not None
        return list({member: None for listed in ids for member in grouped.group_members(listed)})

    def purge_all(self) -> int | None:
        """Remove every stored response, on every host. Needs a storage that can
        (``IGroupCacheStorage.remove_all``: the built-in storages). Returns how many were removed
        (``None``: the storage does not count them)."""
        grouped = self._guard.grouped
        if grouped is None:
            storage = type(self._guard.storage).__name__
            raise TypeError(
                f"purge_all needs a storage that can remove everything it holds "
                f"(IGroupCacheStorage.remove_all); {storage} cannot"
            )
        return self._acknowledged(grouped.remove_all(INVALIDATION_SECONDS))

    # -- what a purge would remove (a dry run): counted, nothing changed ---------------------------

    def would_purge(self, url: str) -> int:
        """How many stored responses ``purge(url)`` would remove now (a template's too)."""
        host, path = split_url(url)
        if "{" in path:
            return self._listed(template_group(path), host, f"the template {path}")
        return len(self._members(url))

    def would_purge_prefix(self, prefix: str) -> int:
        """How many stored responses ``purge_prefix(prefix)`` would remove now."""
        host, group, with_path = _prefix(prefix)
        listed = self._listed(group, host, f"the prefix {prefix}")
        return listed + self.would_purge(prefix) if with_path else listed

    def would_purge_groups(self, groups: Iterable[object], host: str | None = None) -> int:
        """How many stored responses ``purge_groups(groups, host)`` would remove now."""
        names = _group_names(groups)
        if self._guard.grouped is None or not names:
            return 0
        return len(self._members_of(self._group_ids(names, host)))

    def _listed(self, group: str, host: str | None, what: str) -> int:
        self._need_groups(what)
        return self.would_purge_groups([group], host)

    def _live_variants(self, resource: str, now: float) -> list[str]:
        """The ids of the items holding the live responses a path's index on one host lists: the
        index's own for the response it carries (a fault is raised)."""
        try:
            found = self._guard.storage.get(resource)
        except (CacheError, KeyError):
            return []
        index = self._guard.decode(resource, found, INDEXES, "purge")
        if index is None:
            return []
        carried = index.carried_variant
        return [
            resource if variant == carried else variant for variant, expires_at in index.variants if expires_at > now
        ]

    def _acknowledged(self, removed: _Removed) -> _Removed:
        """``removed``, once every process with an in-process tier dropped its copies; else raises."""
        synchronise = getattr(self._guard.storage, "synchronise", None)
        if callable(synchronise):
            listening, missing = synchronise(SYNCHRONISE_SECONDS)
            if missing:
                raise NotAcknowledged(removed, listening, missing)
        return removed

    def _mark(self, ids: list[str]) -> None:
        grouped = self._guard.grouped
        if grouped is None:
            self._guard.local.invalidate(ids)
        else:
            grouped.invalidate_groups(ids, INVALIDATION_SECONDS)

    def hosts(self) -> list[str]:
        """The hosts with stored responses (those this process stored, on a storage without groups)."""
        grouped = self._guard.grouped
        return grouped.group_members(HOSTS) if grouped is not None else self._guard.local.hosts()

    def canonical(self, host: str) -> str:
        """``host`` as requests are stored under it (lower case, no default port, ``canonical_host``)."""
        host = host_name(host)
        return host if self._canonical_host is None else self._canonical_host(host)

    _host = canonical
