"""What the cache reads of a request, as plain values, and the ids of the entries it may be given.

A framework's adapter builds a ``RequestTarget`` from its request once (its header fields, path,
query string, route pattern and parsed path parameters); the flow and the entry store read only
that. Ids are computed here, once per spelling: they are memoised by the raw values, so a hit
does none of the work (``docs/design.md``, "Storage model").
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, Optional

from ..common.memo import BoundedMemo
from ..decisions.credentials import CREDENTIAL_FIELDS
from ..decisions.observed import INTERPRETED_FIELDS, NOTHING_IGNORED, Ignored
from ..decisions.values import EVERY, VaryRecipe
from ..semantics.cookies import cookie_header, cookie_pairs, cookie_value
from ..semantics.negotiation import normalise, select
from ..semantics.preconditions import Conditions
from ..semantics.vary import normalise_field_value
from .ids import (
    canonical_path,
    canonical_query,
    credentials_mac,
    host_name,
    keyed_query,
    resource_id,
    resource_path,
    uri_prefix,
    variant_id,
)

__all__ = ["DEFAULT_KEYING", "Keying", "RequestTarget", "field_value"]

# Ids of the resources and variants requests ask for, remembered once a request finds a response
# stored under them (``RequestTarget.remember_ids``): a hot one is asked for on every hit, and a
# URL asked for once (most of a long tail) neither takes the room of hot ones nor holds memory.
# Keys are what the client sent, so both are bounded (4,096 keys of at most 1 KiB each).
_RESOURCES: BoundedMemo[tuple[str, ...], tuple[str, str, str | None]] = BoundedMemo(None, 4096, 1024)
_VARIANTS: BoundedMemo[tuple[object, ...], str] = BoundedMemo(None, 4096, 1024)
_HOSTS: BoundedMemo[str, str] = BoundedMemo(None, 1024, 256)


_Observed = tuple[tuple[Optional[str], ...], tuple[tuple[str, str], ...]]  # Optional: evaluated on Python 3.9
"""A request's values of what an observed recipe keys on beyond fields and the query: its
cookies, and every header (``RequestTarget._observed_values``)."""


class Keying:
    """How a route keys its variants beyond the request's raw values: the secret that keys
    credentials (``CacheMiddleware(secret=...)``), and the values the route produces for the
    headers its ``cache_vary`` maps (a request is keyed by its best match among them)."""

    __slots__ = ("ignored", "secret", "selections")

    def __init__(
        self,
        secret: bytes,
        selections: tuple[tuple[str, tuple[str, ...]], ...] = (),
        ignored: Ignored = NOTHING_IGNORED,
    ) -> None:
        self.secret = secret
        self.selections = dict(selections)
        self.ignored = ignored
        """``cache_ignore``: inputs never in a key, even when a recipe would take them all."""

    def values(self, names: tuple[str, ...], values: list[str | None]) -> tuple[str | None, ...]:
        """The request's values as the route keys them: selected, or in one spelling."""
        selections = self.selections
        return tuple(
            select(name, value, selections[name]) if name in selections else normalise(name, value)
            for name, value in zip(names, values)
        )


DEFAULT_KEYING = Keying(secrets.token_bytes(32))
"""For requests read without a route's keying (tests, tools): a secret of this process's own."""


class RequestTarget:
    """What the cache needs of a request: its resource, its variant values, its preconditions.

    The *resource* is the index of the request's path on its host (every query string of the
    path shares it); ``variant`` adds the canonical query string and the vary values. ``fields``
    are the request's header fields, lower-case names to lists of lines (chocs keeps them so).
    """

    __slots__ = (
        "_fields",
        "_last_variant",
        "asks_range",
        "canonical_path",
        "has_authorization",
        "has_body",
        "has_conditions",
        "host",
        "keying",
        "parameters",
        "path",
        "pending_ids",
        "query",
        "resource",
        "spelling",
    )

    def __init__(
        self,
        fields: dict[str, list[str]],
        path: str,
        query: str,
        pattern: str | None = None,
        parameters: Mapping[str, object] | None = None,
        has_body: bool = False,
        canonical_host: Callable[[str], str] | None = None,
        keying: Keying | None = None,
    ) -> None:
        self.keying = DEFAULT_KEYING if keying is None else keying
        self._fields = fields
        self._last_variant: tuple[VaryRecipe | None, str] = (None, "")
        raw = fields.get("host")  # field_value's common case written out, as in ``variant``
        if raw.__class__ is list and len(raw) == 1 and "," not in raw[0]:
            host: str = raw[0]
        else:
            host = field_value(raw) or ""
        host = _HOSTS.get(host) or _HOSTS.remember(host, host_name(host), len(host))
        if canonical_host is not None:
            host = canonical_host(host)
        self.host = host
        self.path, self.query = path, query
        self.parameters: Mapping[str, object] = {} if parameters is None else parameters
        self.pending_ids: list[tuple[BoundedMemo[Any, Any], object, object, int]] | None = None
        """Ids worked out for this request and not remembered yet (``remember_ids``)."""
        key = (host, pattern or path, path)
        named = _RESOURCES.get(key)
        if named is None:
            canonical = path if pattern is None else canonical_path(pattern, self.parameters, path)
            spelling = None if resource_path(canonical) == canonical else canonical
            named = (resource_id(host, canonical), canonical, spelling)
            self.pending_ids = [(_RESOURCES, key, named, len(host) + len(path))]
        self.resource: str = named[0]
        self.canonical_path: str = named[1]
        self.spelling: str | None = named[2]
        """The path, when it is one of several spellings of its resource's (``ids.resource_path``)."""
        self.has_authorization = "authorization" in fields
        self.has_conditions = (
            "if-none-match" in fields
            or "if-modified-since" in fields
            or "if-unmodified-since" in fields
            or "if-match" in fields
        )
        self.has_body = has_body
        self.asks_range = "range" in fields

    @property
    def url(self) -> str:
        """The request's URL as it was sent (its ``Host`` as given), for log lines."""
        host = field_value(self._fields.get("host")) or self.host
        return f"//{host}{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def has_credentials(self) -> bool:
        """It carries any of ``CREDENTIAL_FIELDS``: a per-user response may be kept for it."""
        fields = self._fields
        return any(name in fields for name in CREDENTIAL_FIELDS)

    @property
    def sends_cookie(self) -> bool:
        return "cookie" in self._fields

    def variant(self, recipe: VaryRecipe) -> str:
        """The id of the variant ``recipe`` selects for this request (the last one asked for is
        remembered: a miss asks for it to look, to coalesce, to store and to share)."""
        last = self._last_variant
        if last[0] is recipe or (last[0] is not None and last[0] == recipe):  # None == recipe: a Python call
            return last[1]
        names = recipe.field_names
        fields = self._fields
        values: list[str | None] = []
        for name in names:  # field_value, with its common case written out: this runs on every hit
            raw = fields.get(name)
            if raw is None:
                values.append(None)
            elif raw.__class__ is list and len(raw) == 1 and "," not in raw[0]:
                values.append(raw[0].strip())
            else:
                values.append(field_value(raw))
        credentials: tuple[str | None, ...] | None = None
        if recipe.per_credentials:
            credentials = tuple(field_value(fields.get(name)) for name in CREDENTIAL_FIELDS)
        observed = self._observed_values(recipe) if recipe.reads_values else None
        key = (
            self.resource,
            self.query,
            names,
            tuple(values),
            credentials,
            self.keying,
            self.spelling,
            recipe.kind,
            observed,
        )
        variant = _VARIANTS.get(key)
        if variant is None:  # normalised, selected and keyed once per spelling: a hit finds the id
            variant = self._variant_id(recipe, values, credentials, observed)
            pending = (_VARIANTS, key, variant, _size(key))
            if self.pending_ids is None:
                self.pending_ids = [pending]
            else:
                self.pending_ids.append(pending)
        self._last_variant = (recipe, variant)
        return variant

    def remember_ids(self) -> None:
        """Remember the ids worked out for this request, which found a response stored under
        them: the next request for the same URL finds them."""
        for memo, key, value, size in self.pending_ids or ():
            memo.remember(key, value, size)
        self.pending_ids = None

    def _observed_values(self, recipe: VaryRecipe) -> _Observed:
        """The request's values of what an observed recipe keys on beyond fields and the query:
        its cookies (all of them for ``EVERY``), and every header when the handler read them all."""
        ignored = self.keying.ignored
        cookies: tuple[str | None, ...] = ()
        if recipe.cookies:
            header = cookie_header(self._fields.get("cookie"))
            if recipe.cookies == (EVERY,):
                pairs = cookie_pairs(header or "")
                cookies = tuple(f"{name}={value}" for name, value in pairs if not ignored.cookie(name))
            else:
                cookies = tuple(cookie_value(header, name) for name in recipe.cookies)
        headers: tuple[tuple[str, str], ...] = ()
        if recipe.every_header:
            headers = tuple(
                sorted(
                    (name, _joined(lines))
                    for name, lines in self._fields.items()
                    if name not in INTERPRETED_FIELDS and name not in CREDENTIAL_FIELDS and not ignored.header(name)
                )
            )
        return cookies, headers

    def _variant_id(
        self,
        recipe: VaryRecipe,
        values: list[str | None],
        credentials: tuple[str | None, ...] | None,
        observed: _Observed | None,
    ) -> str:
        """The id of the request's variant under ``recipe``: its values normalised and selected,
        credentials and cookies under the HMAC, and the query string as the recipe reads it."""
        keying, names = self.keying, recipe.field_names
        secret = credentials or ()
        if observed is not None:
            cookies, headers = observed
            secret = (*secret, *cookies, *(f"{name}: {value}" for name, value in headers))
        mac = None if credentials is None and observed is None else credentials_mac(keying.secret, *secret)
        keyed, query = keying.values(names, values), self.keyed_query(recipe)
        return variant_id(self.resource, query, names, keyed, mac, self.spelling, recipe.kind)

    def keyed_query(self, recipe: VaryRecipe) -> str:
        """The query string as ``recipe`` keys it (``ids.keyed_query``; the whole one, canonical, for
        declared keying)."""
        ignored = self.keying.ignored
        if recipe.queries is None and not ignored.queries:
            return canonical_query(self.query)
        return keyed_query(self.query, recipe.queries, ignored.query if ignored.queries else None)

    @property
    def uri_prefix(self) -> str:
        """What the ids of every stored response of this URI start with (see ``ids.uri_prefix``)."""
        return uri_prefix(self.resource, canonical_query(self.query), self.spelling)

    def field(self, name: str) -> str | None:
        """Request field ``name`` (lower case) as one value, ``None`` when absent."""
        raw = self._fields.get(name)
        return None if raw is None else _joined(raw)

    def field_lines(self, name: str) -> list[str]:
        """Every line of request field ``name`` (lower case), as sent."""
        raw = self._fields.get(name)
        return [] if raw is None else [raw] if isinstance(raw, str) else list(raw)

    def conditions(self) -> Conditions:
        """The request's precondition fields (ask when ``has_conditions``: most requests have none)."""
        fields = self._fields
        if_match, if_none_match = fields.get("if-match"), fields.get("if-none-match")
        if_modified_since, if_unmodified_since = fields.get("if-modified-since"), fields.get("if-unmodified-since")
        return Conditions(  # positionally: a keyword call of a NamedTuple costs twice as much
            None if if_match is None else _joined(if_match),
            None if if_none_match is None else _joined(if_none_match),
            None if if_modified_since is None else _joined(if_modified_since),
            None if if_unmodified_since is None else _joined(if_unmodified_since),
        )


def _size(key: tuple[object, ...]) -> int:
    """What a memo key holds that the client sent (it bounds the memo's bytes)."""
    return len(repr(key[1:5])) + len(repr(key[8]))


def field_value(raw: list[str] | str | None) -> str | None:
    """The normalised value of a request field as chocs holds it, ``None`` when absent."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    elif len(raw) == 1 and "," not in raw[0]:
        return raw[0].strip()  # the common case: one line, one member
    return normalise_field_value(raw)


def _joined(raw: list[str] | str) -> str:
    """One value of a field that may have come as several lines."""
    if isinstance(raw, str):
        return raw
    return raw[0] if len(raw) == 1 else ", ".join(raw)
