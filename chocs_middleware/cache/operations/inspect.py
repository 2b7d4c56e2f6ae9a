"""See what is stored (docs/invalidation.md, "Inspecting the cache"): ``inspect`` lists the stored
responses of a URL, ``explain`` says what a request would get, without running the handler.

Both only read. A fault of the storage is raised, as purges raise: whoever asked must know.
"""

from __future__ import annotations

from typing import Any

from ..decisions.credentials import Lookup
from ..decisions.values import StoredResponse
from ..entries.guard import INDEXES, RESPONSES, StorageGuard
from ..entries.ids import resource_id
from ..entries.outcomes import Missed, Target
from ..entries.store import EntryStore
from ..error import CacheError
from .purge import Purger, split_url

__all__ = ["describe", "explain", "inspect"]


def inspect(guard: StorageGuard, purger: Purger, url: str, host: str | None = None) -> list[dict[str, Any]]:
    """One record per stored response of the URL's path (every query string and variant): on
    ``host``, on the URL's host, or on every host with stored responses, newest last. With an
    in-process tier, ``in_tier`` says whether this process holds a copy."""
    url_host, path = split_url(url)
    named = host if host is not None else url_host
    hosts = purger.hosts() if named is None else [purger.canonical(named)]
    now = guard.clock.time()
    holds = getattr(guard.storage, "holds", None)  # a tier: whether this process holds a copy
    records = []
    for name in sorted(hosts):
        resource = resource_id(name, path)
        in_tier = None if holds is None else holds(resource)  # asked before the read, which may copy it there
        index_item = _get(guard, resource)
        index = guard.decode(resource, index_item, INDEXES, "inspect")
        if index is None or index.expires_at <= now:
            continue
        for variant, expires_at in index.variants:
            if expires_at <= now:
                continue
            stored = index.carried_response(variant)
            if stored is not None:  # held by the index's own item
                found, held = index_item, in_tier
            else:
                held = None if holds is None else holds(variant)
                found = _get(guard, variant)
                stored = guard.decode(variant, found, RESPONSES, "inspect")
            if stored is not None and stored.generation == index.generation and found is not None:
                record = {"host": name, "path": path, "variant": variant, **describe(stored, now, found.body)}
                if held is not None:
                    record["in_tier"] = held
                records.append(record)
    return records


def describe(stored: StoredResponse, now: float, blob: bytes | None = None) -> dict[str, Any]:
    """A stored response as plain values: who may be given it, how old it is, how long it stays
    fresh (``ttl``, negative once stale), its stale windows and its size in storage."""
    age = stored.age_at(now)
    record: dict[str, Any] = {
        "status": stored.status,
        "shared": not stored.per_user,
        "age": int(age),
        "ttl": stored.ttl(int(age)),
        "fresh": stored.is_fresh(age),
        "stale_while_revalidate": stored.stale_while_revalidate,
        "stale_if_error": stored.stale_if_error,
        "kept_stale": stored.kept_stale,
        "etag": stored.etag,
        "content_type": next((values[0] for name, values in stored.headers if name == "content-type"), None),
    }
    if blob is not None:
        record["size"] = len(blob)
    if stored.noted:
        record["key"] = stored.noted
    return record


def explain(entries: EntryStore, target: Target, lookup: Lookup, now: float) -> dict[str, Any]:
    """What a read of ``target`` would get now (``flow/read.py``'s choice, without its effects):
    ``hit``; ``stale-while-revalidate`` (the stale copy, while one refresh runs); ``validate``
    (the handler asked whether the stale copy is current); or ``miss``, with why."""
    found = entries.find(target, lookup, now)
    if isinstance(found, Missed):
        reason = "storage-unavailable" if found.unavailable else found.reason
        return {"outcome": "miss", "reason": reason}
    age = found.age_at(now)
    described = describe(found, now)
    if found.is_fresh(age):
        return {"outcome": "hit", **described}
    if found.serves_while_revalidating(age):
        return {"outcome": "stale-while-revalidate", **described}
    if found.etag or found.last_modified:
        return {"outcome": "validate", "reason": "stale", **described}
    return {"outcome": "miss", "reason": "stale", **described}


def _get(guard: StorageGuard, item_id: str) -> Any:
    try:
        return guard.storage.get(item_id)
    except (CacheError, KeyError):
        return None
