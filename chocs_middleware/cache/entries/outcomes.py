"""What the entry store's steps return: what a lookup found instead of a response (``Missed``),
what the index it saw was (``Seen``), and whether a response was stored (``Stored``,
``NotStored`` and its ``Refusal``)."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Protocol

from ..decisions.values import ResourceIndex, StoredResponse, VaryRecipe

__all__ = [
    "UNAVAILABLE",
    "URI_MISS",
    "Claimed",
    "HeldLock",
    "Missed",
    "NotStored",
    "Refusal",
    "Seen",
    "Stored",
    "Target",
]


class Target(Protocol):
    """The resource a request is for, and how to name its variants for this request."""

    @property
    def resource(self) -> str:
        """The id of the index of the request's path on its host."""

    @property
    def host(self) -> str: ...

    @property
    def canonical_path(self) -> str: ...

    @property
    def uri_prefix(self) -> str:
        """What the variant ids of the request's URI (path and query) start with."""

    def variant(self, recipe: VaryRecipe) -> str:
        """The id of the variant ``recipe`` selects for this request."""


class Seen(NamedTuple):
    """The index a request's lookup saw: what its answer may be stored under, and only while it is
    still there (``ResourceIndex.accepts``)."""

    generation: str | None
    """Its generation (``None``: there was none)."""
    blob: bytes | None = None
    """The index entry as read (``None``: none), when ``known``."""
    known: bool = False
    """``blob`` is what the storage held: a store compares against it without reading the index again."""


class HeldLock:
    """A cross-process lock a request holds, released once: by the store of its answer in the same
    step (``ILookupCacheStorage.store_and_release``), or else when its flight closes."""

    __slots__ = ("name", "released", "token")

    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.token = token
        self.released = False


class Claimed(NamedTuple):
    """The cross-process lock for a variant, as a lookup that found it missing asked for it."""

    token: str | None
    """The lock's token, when the lookup took it: this request's to use or release."""
    elsewhere: bool
    """Someone else holds it."""
    since: float
    """The storage's clock when the lookup looked (``storage_time``)."""


class Missed(NamedTuple):
    """A lookup that found nothing this request may be given."""

    reason: str
    """RFC 9211 ``fwd``: ``uri-miss`` (nothing stored for the URI) or ``vary-miss``."""
    resource_index: ResourceIndex | None = None
    """The resource's index the lookup saw (``None``: none)."""
    unavailable: bool = False
    """The storage could not be asked (a fault, or its breaker is open)."""
    index_blob: bytes | None = None
    """The index entry as the lookup read it (``None``: none)."""
    claim: Claimed | None = None
    """The cross-process lock the lookup asked for in the same step (``ILookupCacheStorage``)."""

    @property
    def generation(self) -> str | None:
        """The generation of the index the lookup saw (``None``: none)."""
        return None if self.resource_index is None else self.resource_index.generation

    @property
    def seen(self) -> Seen:
        return Seen(self.generation, self.index_blob, not self.unavailable)


URI_MISS = Missed("uri-miss")
UNAVAILABLE = Missed("uri-miss", unavailable=True)


class Refusal(Enum):
    """Why a response that may be stored was not (its ``Cache-Status`` detail)."""

    SUPERSEDED = "invalidated-meanwhile"
    """An invalidation came since the request looked: what it computed may be older."""
    STORAGE_UNAVAILABLE = "storage-unavailable"
    """The storage failed, or is being left alone after faults."""
    CONTENDED = "index-contended"
    """The index kept changing while this response was being added (other writers)."""
    GROUPS_UNSUPPORTED = "groups-unsupported"
    """It is in cache groups, and the storage cannot keep groups (``IGroupCacheStorage``)."""
    TOO_MANY_GROUPS = "too-many-groups"
    """It is in more groups, or longer ones, than ``MAX_GROUPS`` / ``MAX_GROUP_LENGTH``."""


class Stored(NamedTuple):
    response: StoredResponse
    """As stored: stamped with the generation of the index that lists it."""


class NotStored(NamedTuple):
    reason: Refusal
