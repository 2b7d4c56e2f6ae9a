"""What the cache keeps about a resource: its index and its stored responses (DESIGN.md §5)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["HeaderFields", "ResourceIndex", "StoredResponse", "VaryRecipe", "first_value"]

HeaderFields = tuple[tuple[str, tuple[str, ...]], ...]
"""Response headers as (lower-case name, values), in sending order."""


def first_value(fields: HeaderFields, name: str) -> str | None:
    """The first value of header ``name`` (lower case), or ``None``."""
    for field_name, values in fields:
        if field_name == name:
            return values[0] if values else None
    return None


MAX_VARIANTS_PER_RESOURCE = 32
MAX_RECIPES_PER_RESOURCE = 4


@dataclass(frozen=True)
class VaryRecipe:
    """How a resource's variants are told apart: the request fields they vary on."""

    field_names: tuple[str, ...]
    """Lower-cased and sorted, so that the same set always gives the same variant ids."""
    per_credentials: bool = False
    """Also by the request's credentials (``Authorization`` and ``Cookie``): served back only to them."""


@dataclass(frozen=True)
class StoredResponse:
    """A response as the cache keeps it: what to send again, and when it was made."""

    status: int
    headers: HeaderFields
    """Every header to send but ``Age`` and ``Cache-Status`` (which are made for each response)."""
    body: bytes
    stored_at: float
    """Epoch seconds when the handler produced the response."""
    lifetime: int
    """Freshness lifetime in seconds (RFC 9111 §4.2.1)."""
    generation: str = ""
    """The generation of the resource index this response belongs to (see ``ResourceIndex``)."""
    public: bool = False
    """Explicitly shareable (``public``, ``s-maxage`` or a public route): may be served to a
    request with credentials although it was not stored for them."""
    no_cache: bool = False
    """``no-cache``: never served without asking the handler first."""

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def is_fresh(self, now: float) -> bool:
        return self.age(now) < self.lifetime

    def ttl(self, now: float) -> int:
        """Whole seconds of freshness left (negative once stale), for ``Cache-Status``."""
        return self.lifetime - int(self.age(now))

    @property
    def expires_at(self) -> float:
        """When the cache may drop the response: the end of its freshness."""
        return self.stored_at + self.lifetime


@dataclass(frozen=True)
class ResourceIndex:
    """The entry that lets every variant of a resource be found, and all of them be dropped at once.

    A stored response counts only while its ``generation`` equals the index's. Invalidation
    removes the index, so every variant dies with it even if one was never listed (two writers
    racing on the index) or the index was evicted before its variants.
    """

    generation: str
    recipes: tuple[VaryRecipe, ...] = ()
    variants: tuple[tuple[str, float], ...] = field(default=())
    """(variant id, expires at) for each stored response, so that invalidation can remove it."""

    @property
    def expires_at(self) -> float:
        return max((expires_at for _, expires_at in self.variants), default=0.0)

    def with_variant(self, recipe: VaryRecipe, variant: str, expires_at: float, now: float) -> ResourceIndex:
        """This index with ``variant`` listed (moved last) and expired or surplus ones dropped."""
        variants = [(vid, exp) for vid, exp in self.variants if vid != variant and exp > now]
        variants.append((variant, expires_at))
        recipes = [known for known in self.recipes if known != recipe]
        recipes.append(recipe)
        return replace(
            self,
            recipes=tuple(recipes[-MAX_RECIPES_PER_RESOURCE:]),
            variants=tuple(variants[-MAX_VARIANTS_PER_RESOURCE:]),
        )

    def dropped_by(self, newer: ResourceIndex) -> list[str]:
        """Variant ids listed here but no longer in ``newer``."""
        kept = {vid for vid, _ in newer.variants}
        return [vid for vid, _ in self.variants if vid not in kept]
