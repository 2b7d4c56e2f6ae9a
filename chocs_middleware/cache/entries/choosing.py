"""Which stored responses a request may be given: the one its lookup finds (``usable``, on every
hit), and, after a ``vary-miss``, those stored for other request headers that the handler may
confirm for it too (``stored_for_others``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..decisions.credentials import NEGOTIATION_FIELDS, Lookup
from ..decisions.values import MAX_RECIPES_PER_RESOURCE, ResourceIndex, StoredResponse, VaryRecipe
from ..storages.protocol import CacheItem
from .guard import RESPONSES, StorageGuard, Unavailable
from .outcomes import Missed, Target

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10; annotations only

__all__ = ["MAX_OFFERED", "stored_for_others", "usable"]

MAX_OFFERED = 8
"""At most this many stored responses of other request headers are offered for validation."""


def usable(
    stored: StoredResponse | None, index: ResourceIndex, recipe: VaryRecipe, lookup: Lookup, now: float
) -> TypeGuard[StoredResponse]:
    """Whether ``stored`` is one ``lookup``'s request may be given, found under ``recipe``: of the
    index's generation, still retained, and shareable with it (the credentials rule)."""
    if stored is None or stored.generation != index.generation or stored.retained_until <= now:
        return False  # nothing, a response of an invalidated generation, or one kept too long
    return lookup.shared_allowed or lookup.may_serve(recipe, stored)  # the common case without a call


def stored_for_others(
    guard: StorageGuard, route: str, target: Target, missed: Missed, lookup: Lookup, now: float
) -> tuple[StoredResponse, ...]:
    """After a ``vary-miss``: the responses of this URI stored for other request headers,
    which the handler may confirm for this request too (RFC 9111 §4.3.1: a cache may validate
    a response it cannot choose with the request's fields), newest first, each with an
    ``ETag``, at most ``MAX_OFFERED`` (one ``get_many`` where the storage has it).

    Only where every way the resource varies is content negotiation (``NEGOTIATION_FIELDS``:
    ``Accept`` and its kin) and never per credentials, and while no more ways than the index
    lists may exist: a field that may identify a user (a key, a cookie, a tenant) never lets
    one request's stored response be confirmed for another, whatever its entity tag says.
    Only responses the request may be given (``lookup``) of the index's generation, still
    retained, are offered.
    """
    index = missed.resource_index
    if missed.reason != "vary-miss" or index is None or not _negotiated_only(index.recipes):
        return ()
    own = {target.variant(recipe) for recipe in index.recipes}
    prefix = target.uri_prefix
    ids = [
        variant
        for variant, expires_at in reversed(index.variants)
        if expires_at > now and variant.startswith(prefix) and variant not in own
    ][:MAX_OFFERED]
    apart = [variant for variant in ids if variant != index.carried_variant]
    items = guard.attempt(guard.reads, "get", route, _get_many, guard, apart) if apart else ()
    if isinstance(items, Unavailable):
        return ()
    read = dict(zip(apart, items))
    offered: list[StoredResponse] = []
    pending = guard.pending
    for variant in ids:
        stored = index.carried_response(variant)
        if stored is None:
            stored = guard.decode(variant, read[variant], RESPONSES, route)
        if (
            usable(stored, index, index.recipes[-1], lookup, now)  # every recipe here is a shared one
            and stored.etag is not None
            and not (pending.active and pending.hides(target.resource, stored.stored_at))
            and all(stored.etag != known.etag for known in offered)
        ):
            offered.append(stored)
    return tuple(offered)


def _get_many(guard: StorageGuard, ids: Sequence[str]) -> Sequence[CacheItem | None]:
    return guard.multi.get_many(ids) if guard.multi is not None else [guard.get(variant) for variant in ids]


def _negotiated_only(recipes: tuple[VaryRecipe, ...]) -> bool:
    """Every way a resource varies is content negotiation, never per credentials, and the index
    lists them all: only then may its responses be offered across variants."""
    return 0 < len(recipes) < MAX_RECIPES_PER_RESOURCE and not any(
        recipe.per_credentials or not NEGOTIATION_FIELDS.issuperset(recipe.field_names) for recipe in recipes
    )
