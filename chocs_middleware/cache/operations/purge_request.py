"""A purge asked for over HTTP (docs/invalidation.md, "A purge endpoint"): the JSON a deploy hook,
a CMS webhook or another service sends, checked, and run against the middleware's purges.

Framework-free: ``adapters/chocs/purge_route.py`` registers the route and checks the token;
this module turns the request's JSON into a ``PurgeRequest`` (or says, in one sentence, what is
wrong with it) and runs it, returning what to answer as plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..error import NotAcknowledged

__all__ = ["BadPurgeRequest", "PurgeRequest", "Purges", "run"]

_LISTS = ("urls", "templates", "prefixes", "groups")
_FLAGS = ("all", "soft", "dry_run")
MAX_NAMES = 1000
"""At most this many URLs, templates, prefixes and groups in one request."""


class BadPurgeRequest(ValueError):
    """The request's JSON is not a purge this endpoint understands; the message says why (400)."""


class Purges(Protocol):
    """What a purge request runs against: ``CacheMiddleware``'s purges, and their dry runs."""

    def purge(self, url: str, *, soft: bool = False) -> int: ...

    def purge_prefix(self, prefix: str, *, soft: bool = False) -> int: ...

    def purge_groups(self, *groups: str, host: str | None = None, soft: bool = False) -> int: ...

    def purge_all(self) -> int | None: ...

    def would_purge(self, url: str) -> int: ...

    def would_purge_prefix(self, prefix: str) -> int: ...

    def would_purge_groups(self, *groups: str, host: str | None = None) -> int: ...


@dataclass(frozen=True)
class PurgeRequest:
    """``{"urls": [...], "templates": [...], "prefixes": [...], "groups": [...], "all": false,
    "soft": false, "host": null, "dry_run": false}``; every field may be left out."""

    urls: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    everything: bool = False
    soft: bool = False
    host: str | None = None
    """The host everything but ``all`` is purged on (default: every host)."""
    dry_run: bool = False

    @classmethod
    def from_json(cls, data: object) -> PurgeRequest:
        if not isinstance(data, dict):
            raise BadPurgeRequest('the body must be a JSON object such as {"urls": ["/users/1"]}')
        unknown = sorted(set(data) - {*_LISTS, *_FLAGS, "host"})
        if unknown:
            raise BadPurgeRequest(f"unknown field {unknown[0]!r}; the fields: {', '.join((*_LISTS, *_FLAGS, 'host'))}")
        lists = {name: _names(data.get(name, []), name) for name in _LISTS}
        flags = {name: _flag(data.get(name, False), name) for name in _FLAGS}
        host = data.get("host")
        if host is not None and (not isinstance(host, str) or not host.strip()):
            raise BadPurgeRequest(f'host must be a host name such as "api.example.com" or null, got {host!r}')
        if not any(lists.values()) and not flags["all"]:
            raise BadPurgeRequest('nothing to purge: give urls, templates, prefixes, groups, or "all": true')
        return cls(
            lists["urls"],
            lists["templates"],
            lists["prefixes"],
            lists["groups"],
            flags["all"],
            flags["soft"],
            host,
            flags["dry_run"],
        )


def run(request: PurgeRequest, purges: Purges) -> dict[str, Any]:
    """Run (or, with ``dry_run``, count) every purge the request names; what was removed, by kind.
    A purge some process did not acknowledge counts as done, and says how many did not."""
    if request.soft and request.everything:
        raise BadPurgeRequest('"all" cannot be soft: name urls, templates, prefixes or groups to make stale')
    removed: dict[str, int | None] = {}
    not_acknowledged = 0
    for kind, run_one in _purges(request, purges):
        try:
            count = run_one()
        except NotAcknowledged as partial:
            count, not_acknowledged = partial.removed, max(not_acknowledged, partial.missing)
        previous = removed.get(kind, 0)
        removed[kind] = None if count is None or previous is None else previous + count
    return {"dry_run": request.dry_run, "removed": removed, "not_acknowledged": not_acknowledged}


def _purges(request: PurgeRequest, purges: Purges) -> list[tuple[str, Any]]:
    """(kind, the call) for each purge the request names, in the order they run."""
    dry, host, soft = request.dry_run, request.host, request.soft

    def on_host(url: str) -> str:
        return url if host is None or not url.startswith("/") else f"http://{host}{url}"

    urls = [on_host(url) for url in request.urls]
    calls: list[tuple[str, Any]] = []
    for url in urls:
        calls.append(("urls", lambda url=url: purges.would_purge(url) if dry else purges.purge(url, soft=soft)))
    for template in map(on_host, request.templates):
        calls.append(("templates", lambda t=template: purges.would_purge(t) if dry else purges.purge(t, soft=soft)))
    for prefix in map(on_host, request.prefixes):
        calls.append(
            ("prefixes", lambda p=prefix: purges.would_purge_prefix(p) if dry else purges.purge_prefix(p, soft=soft))
        )
    if request.groups:
        names = request.groups
        calls.append(
            (
                "groups",
                lambda: (
                    purges.would_purge_groups(*names, host=host)
                    if dry
                    else purges.purge_groups(*names, host=host, soft=soft)
                ),
            )
        )
    if request.everything:
        calls.append(("all", lambda: None if dry else purges.purge_all()))
    return calls


def _names(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise BadPurgeRequest(f"{field} must be a list of non-empty strings, got {value!r}")
    if len(value) > MAX_NAMES:
        raise BadPurgeRequest(f"{field} holds {len(value)} entries; at most {MAX_NAMES} per request")
    return tuple(item.strip() for item in value)


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadPurgeRequest(f"{field} must be true or false, got {value!r}")
    return value
