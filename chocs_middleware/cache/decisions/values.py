"""The cache's plain values: a handler's answer, a stored response, a resource's index.

Nothing here knows chocs or a storage; see ``docs/design.md`` ("Storage model").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from ..common.memo import worked_out_once
from ..semantics.preconditions import NOT_MODIFIED_FIELDS

__all__ = [
    "EVERY",
    "NO_CONTENT_LENGTH",
    "HeaderFields",
    "ResourceIndex",
    "StoredResponse",
    "UpstreamResponse",
    "VaryRecipe",
    "first_value",
    "header_values",
    "new_generation",
    "not_modified_fields",
    "refreshed_fields",
]

HeaderFields = tuple[tuple[str, tuple[str, ...]], ...]
"""Response headers as (lower-case name, values), in sending order."""


def first_value(fields: HeaderFields, name: str) -> str | None:
    """The first value of header ``name`` (lower case), or ``None``."""
    for field_name, values in fields:
        if field_name == name:
            return values[0] if values else None
    return None


def header_values(fields: HeaderFields, name: str) -> tuple[str, ...]:
    """Every value of header ``name`` (lower case), in order."""
    return tuple(value for field_name, values in fields if field_name == name for value in values)


NO_CONTENT_LENGTH = frozenset((204, 304))
"""RFC 9110 §8.6: never a ``Content-Length`` on a 204 (or a 304, which has no content of its own)."""
_KEPT_ON_REFRESH = frozenset(
    ("content-type", "content-length", "content-encoding", "transfer-encoding", "content-range", "age", "cache-status")
)
"""Not taken from a 304 that refreshes a stored response: the stored body defines them (and a
framework may give every response, a 304 included, a ``Content-Type`` of its own)."""


def not_modified_fields(fields: HeaderFields) -> HeaderFields:
    """What a 304 carries of a response with ``fields``: its validators and caching fields
    (``NOT_MODIFIED_FIELDS``, RFC 9110 §15.4.5)."""
    return tuple((name, values) for name, values in fields if name in NOT_MODIFIED_FIELDS)


def refreshed_fields(stored: StoredResponse, confirmation: HeaderFields, date: str) -> HeaderFields:
    """The fields of ``stored`` freshened by a 304 with ``confirmation`` fields (RFC 9111 §4.3.4).

    The 304's fields replace the stored ones, except those the stored body defines. A
    ``Cache-Control`` the cache wrote (``StoredResponse.advertised``) is left out, so that the
    route's keywords decide again. ``date`` is the ``Date`` to carry when the 304 has none: the
    representation was confirmed current just now.
    """
    fields = dict(stored.headers)
    if stored.advertised:
        fields.pop("cache-control", None)  # the cache's own, from the route: written anew when stored again
    for name, values in confirmation:
        if name not in _KEPT_ON_REFRESH:
            fields[name] = values
    if first_value(confirmation, "date") is None:
        fields["date"] = (date,)
    return tuple(fields.items())


@dataclass(frozen=True)
class UpstreamResponse:
    """What the handler answered, read once at the chocs boundary."""

    status: int
    fields: HeaderFields
    """Every header it sends, as the client will receive them."""
    body: bytes
    """The body, or ``b""`` when it is larger than the limit it was read with (see ``size``)."""
    size: int
    """The body's length in bytes."""
    sets_cookie: bool
    """It sets a cookie (chocs' cookie jar or a ``Set-Cookie`` header)."""

    def values(self, name: str) -> tuple[str, ...]:
        return header_values(self.fields, name)

    def first(self, name: str) -> str | None:
        return first_value(self.fields, name)


MAX_VARIANTS_PER_RESOURCE = 16
MAX_RECIPES_PER_RESOURCE = 4
CLOCK_SKEW_SECONDS = 1.0
"""How far another process's clock (or this one's, stepped back) may be ahead before an age is
distrusted: a response stored up to this far "in the future" counts as just stored."""
UNTRUSTED_AGE = 2_147_483_648.0
"""The age of a response stored further in the future than that: older than any lifetime."""


EVERY = "*"
"""In ``VaryRecipe.cookies``: the handler read every cookie (the whole ``Cookie`` field)."""


@dataclass(frozen=True)
class VaryRecipe:
    """How a resource's variants are told apart: the request fields they vary on, and with observed
    keying (``decisions/observed.py``) the cookies and query parameters the handler read.

    The defaults are declared keying's: the whole query string, no cookie by name."""

    field_names: tuple[str, ...]
    """Lower-cased and sorted, so that the same set always gives the same variant ids."""
    per_credentials: bool = False
    """Also by the request's credentials (``Authorization`` and ``Cookie``): served back only to them."""
    cookies: tuple[str, ...] = ()
    """Cookies read, sorted (``(EVERY,)``: all of them): keyed by an HMAC of their values, as
    credentials are, so a request without them or with other values is never given the entry."""
    queries: tuple[str, ...] | None = None
    """Query parameters read, sorted; ``None``: the whole query string (declared keying)."""
    every_header: bool = False
    """The handler read every header (iterated or copied them): keyed on all it may have used."""
    kind: str | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    """What an observed recipe keys on beyond fields, as one string (``None`` for declared
    keying), worked out once: a variant id's memo key holds it on every hit, and a string keeps
    its hash."""

    reads_values: bool = field(default=False, init=False, repr=False, compare=False, hash=False)
    """It keys on cookies or every header, which are read from the request apart from its fields."""

    def __post_init__(self) -> None:
        if self.cookies or self.queries is not None or self.every_header:
            object.__setattr__(self, "kind", repr((self.cookies, self.queries, self.every_header)))
            object.__setattr__(self, "reads_values", bool(self.cookies) or self.every_header)

    @property
    def observed(self) -> bool:
        """Keyed on more, or less, than declared keying's fields and whole query string."""
        return self.kind is not None


@dataclass(frozen=True)
class StoredResponse:
    """A response as the cache keeps it: what to send again, and when it was made."""

    status: int
    headers: HeaderFields
    """Every header to send but ``Age`` and ``Cache-Status`` (which are made for each response)."""
    body: bytes
    stored_at: float
    """Epoch seconds when the response was generated: when the cache stored it, less the age it
    already had then (RFC 9111 §4.2.3), so that its age is always ``now - stored_at``."""
    lifetime: int
    """Freshness lifetime in seconds (RFC 9111 §4.2.1)."""
    generation: str = ""
    """The generation of the resource index this response belongs to (see ``ResourceIndex``)."""
    public: bool = False
    """Explicitly shareable (``public``, ``s-maxage`` or a public route): may be served to a
    request with credentials although it was not stored for them."""
    no_cache: bool = False
    """``no-cache``: never served without asking the handler first."""
    stale_while_revalidate: int = 0
    """Seconds after the lifetime during which it is served while one caller refreshes it (RFC 5861)."""
    stale_if_error: int = 0
    """Seconds after the lifetime during which it is served when the handler fails (RFC 5861)."""
    kept_stale: int = 0
    """Seconds after the lifetime during which it is kept to be revalidated (RFC 9111 §4.3): the
    next request asks the handler whether it is still current, and a 304 freshens it."""
    advertised: bool = False
    """Its ``Cache-Control`` was written by the cache from the route's keywords, not by the handler:
    a refresh (a 304 from the handler) writes it anew rather than reading it as the handler's."""
    per_user: bool = False
    """Kept for one user only: per credentials, or per the cookies its handler read (``inspect``)."""
    noted: str = ""
    """With ``CacheMiddleware(debug=True)``: the request values it was stored for and its groups,
    as ``inspect`` shows them (``observed.note``); else empty."""

    def age_at(self, now: float) -> float:
        """Seconds since it was stored (RFC 9111 §4.2.3). A response stored slightly in the future
        (another process's clock runs ahead) is taken as just stored; one stored further in the
        future (a clock stepped back) is taken as too old, never as fresh for longer."""
        age = now - self.stored_at
        if age >= 0.0:
            return age
        return 0.0 if age > -CLOCK_SKEW_SECONDS else UNTRUSTED_AGE

    def is_fresh(self, age: float) -> bool:
        """May be served without asking the handler (RFC 9111 §4.2)."""
        return age < self.lifetime and not self.no_cache

    def ttl(self, age: float) -> int:
        """Whole seconds of freshness left (negative once stale), as ``Cache-Status`` reports it."""
        return self.lifetime - int(age)

    def serves_while_revalidating(self, age: float) -> bool:
        """Stale, but within its stale-while-revalidate window."""
        return self.lifetime <= age < self.lifetime + self.stale_while_revalidate

    def softened(self, now: float, window: int | None = None) -> StoredResponse:
        """This response stale from ``now`` on (a soft purge): its lifetime ends now, so its
        stale windows start now, each capped at ``window`` seconds when given. Already stale:
        itself."""
        lifetime = max(0, math.floor(self.age_at(now)))
        if lifetime >= self.lifetime:
            return self
        while_revalidating, if_error = self.stale_while_revalidate, self.stale_if_error
        if window is not None:
            while_revalidating, if_error = min(while_revalidating, window), min(if_error, window)
        return replace(self, lifetime=lifetime, stale_while_revalidate=while_revalidating, stale_if_error=if_error)

    def serves_on_error(self, age: float) -> bool:
        """May answer when the handler fails: fresh, or within its stale-if-error window (never
        ``no-cache``, which must not be served without the handler)."""
        return not self.no_cache and age < self.lifetime + self.stale_if_error

    @property
    def retention(self) -> int:
        """Seconds the storage keeps it: its lifetime and the longest of its stale windows and of the
        time it is kept to be revalidated."""
        window = max(self.stale_while_revalidate, self.stale_if_error, self.kept_stale)
        return self.lifetime + window if window else self.lifetime  # no new int per entry without one

    @property
    def needed_until(self) -> float:
        """Until when it may be served without asking the handler (fresh, or in a stale window);
        after that it is kept only to be revalidated, and goes first when a storage needs room."""
        return self.stored_at + self.lifetime + max(self.stale_while_revalidate, self.stale_if_error)

    @worked_out_once
    def sent_fields(self) -> dict[str, tuple[str, ...]]:
        """Its headers as a full response made from it sends them, by name: with the
        ``Content-Length`` of its body (never on a 204 or 304, RFC 9110 §8.6). Worked out once per
        decoded entry; never changed (the values are tuples)."""
        fields = dict(self.headers)
        if self.status not in NO_CONTENT_LENGTH:
            fields["content-length"] = (str(len(self.body)),)
        return fields

    @worked_out_once
    def etag(self) -> str | None:
        """Its ``ETag`` value, if it has one (a validator, read by every conditional request)."""
        return first_value(self.headers, "etag")

    @worked_out_once
    def last_modified(self) -> str | None:
        """Its ``Last-Modified`` value, if it has one."""
        return first_value(self.headers, "last-modified")

    @worked_out_once
    def not_modified_fields(self) -> HeaderFields:
        """What a 304 made from it carries (``not_modified_fields``), worked out once per decoded entry."""
        return not_modified_fields(self.headers)

    def stamped(self, generation: str) -> StoredResponse:
        """This response as stored under an index of ``generation`` (what was worked out from its
        fields comes along: none of it depends on the generation)."""
        clone = object.__new__(StoredResponse)
        clone.__dict__.update(self.__dict__)
        clone.__dict__["generation"] = generation  # frozen: set as the dataclass's own __init__ does
        return clone

    @worked_out_once
    def retained_until(self) -> float:
        """When its retention ends (epoch seconds); worked out once per decoded entry, read on every hit."""
        return self.stored_at + self.retention


def new_generation() -> str:
    """A new index's generation: 48 random bits, as 12 hex digits. Not a secret (whoever reads
    storage reads it), only unique: ``random`` is seeded from the system's entropy, and again in
    each process a fork makes, at a fraction of what ``secrets`` costs per store."""
    return f"{random.getrandbits(48):012x}"


@dataclass(frozen=True)
class ResourceIndex:
    """The entry that lets every variant of a resource be found, and all of them be dropped at once.

    A stored response counts only while its ``generation`` equals the index's. Invalidation
    replaces the index with an *invalidated index*: an index of a new generation that remembers
    when it was invalidated. Every variant dies with the old generation, even one that was never listed (two
    writers racing on the index) or whose index was evicted first; and a response computed before
    the invalidation cannot be stored after it (``accepts``).
    """

    generation: str
    recipes: tuple[VaryRecipe, ...] = ()
    variants: tuple[tuple[str, float], ...] = field(default=())
    """(variant id, expires at) of the newest stored responses, so that invalidation can remove them."""
    invalidated_at: float | None = None
    """On an invalidated index: when the invalidation happened (epoch seconds)."""
    kept_until: float = 0.0
    """An invalidated index is kept at least until then (epoch seconds), whatever its variants."""
    carried: tuple[str, StoredResponse] | None = None
    """(variant id, response) of the one variant whose response the index's own entry holds: a
    path with one variant is one stored item (``docs/design.md``, "Storage model")."""

    @worked_out_once
    def expires_at(self) -> float:
        """When it may be forgotten (epoch seconds); worked out once per decoded index."""
        return max(self.kept_until, max((expires_at for _, expires_at in self.variants), default=0.0))

    @staticmethod
    def invalidated(generation: str, now: float, kept_until: float) -> ResourceIndex:
        """What an invalidation at ``now`` leaves behind: an invalidated index of a new generation."""
        return ResourceIndex(generation, invalidated_at=now, kept_until=kept_until)

    def accepts(self, seen: str | None) -> bool:
        """Whether a response may join this index, computed by a request whose lookup saw the index
        of generation ``seen`` (``None``: no index at all). It may while nothing was invalidated
        since: the generation it saw is still this one, or it saw none and this index was made by
        a store, not by an invalidation."""
        if seen is None:
            return self.invalidated_at is None
        return seen == self.generation

    @property
    def carried_variant(self) -> str | None:
        """The id of the variant whose response it carries, if it carries one."""
        return None if self.carried is None else self.carried[0]

    def carried_response(self, variant: str) -> StoredResponse | None:
        """The response it carries, if it is ``variant``'s."""
        carried = self.carried
        return carried[1] if carried is not None and carried[0] == variant else None

    def carries(self, variant: str, now: float) -> bool:
        """Whether a response stored for ``variant`` now goes into the index's own entry: it already
        carries this variant, or lists none still live. While another is live, a new variant is
        stored apart: a variant is never stored both ways at once (an older copy could outlive
        the newer)."""
        if self.carried_variant == variant:
            return True
        return not any(expires_at > now for _, expires_at in self.variants)

    def with_variant(
        self,
        recipe: VaryRecipe,
        variant: str,
        expires_at: float,
        now: float,
        carried: tuple[str, StoredResponse] | None = None,
    ) -> ResourceIndex:
        """This index with ``variant`` listed (moved last), expired ones dropped, and at most the
        newest ``MAX_VARIANTS_PER_RESOURCE`` listed. A variant that is no longer listed stays
        usable while its generation is the index's; the list only lets an invalidation free room
        at once (the others expire on their own). ``carried``: the response it carries then."""
        variants = [(vid, exp) for vid, exp in self.variants if vid != variant and exp > now]
        variants.append((variant, expires_at))
        recipes = [known for known in self.recipes if known != recipe]
        recipes.append(recipe)
        return ResourceIndex(
            self.generation,
            tuple(recipes[-MAX_RECIPES_PER_RESOURCE:]),
            tuple(variants[-MAX_VARIANTS_PER_RESOURCE:]),
            self.invalidated_at,
            self.kept_until,
            carried,
        )
