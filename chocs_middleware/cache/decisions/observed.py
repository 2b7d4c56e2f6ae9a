"""Keys made of what the handler read (``docs/caching.md``, "Observed keys").

A proxy cannot see which request fields an application used, so it trusts ``Vary``; a middleware
inside the application can. With *observed* keying (the default) the adapter records which
headers, cookies and query parameters the handler read on a miss (``ReadInputs``), and the
stored response's recipe is the route's ``cache_vary`` with the response's ``Vary``, and what was
read (``observed_recipe``): a response is only given to requests that agree on every one of them.
A handler that never reads ``utm_source`` is not split by it; one that reads the ``session``
cookie is keyed per session. *Declared* keying (``cache_keying="declared"``) keys as a proxy
does: the declared fields and the whole query string. Plain values only: no chocs, no storage.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import NamedTuple

from ..semantics.vary import is_field_name
from .values import EVERY, VaryRecipe

__all__ = [
    "INTERPRETED_FIELDS",
    "KEYINGS",
    "NOTHING_IGNORED",
    "NOTHING_READ",
    "Ignored",
    "ReadInputs",
    "describe_key",
    "ignored_inputs",
    "keying",
    "note",
    "observed_recipe",
    "read_everything",
]

KEYINGS = ("observed", "declared")
INTERPRETED_FIELDS = frozenset(
    (
        "host",
        "cache-control",
        "pragma",
        "range",
        "if-range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    )
)
"""Request fields the cache itself interprets (the host is in every key already): a handler that
reads them is not keyed on them."""
IGNORE_KINDS = ("header", "cookie", "query")


class ReadInputs(NamedTuple):
    """What the handler read of its request while it ran: names, and whether it read them all."""

    headers: frozenset[str] = frozenset()
    """Header names, lower case (a read of a missing one counts: its absence shaped the answer)."""
    cookies: frozenset[str] = frozenset()
    queries: frozenset[str] = frozenset()
    """Query parameter names as the framework parses them (``a`` for ``a[]=1``)."""
    every_header: bool = False
    every_cookie: bool = False
    every_query: bool = False


class Ignored(NamedTuple):
    """``cache_ignore``: inputs read that do not change the response (glob patterns per kind)."""

    headers: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()

    def header(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.headers)

    def cookie(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.cookies)

    def query(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in self.queries)


NOTHING_IGNORED = Ignored()
NOTHING_READ = ReadInputs()


def keying(route: str, value: object, default: str) -> str:
    """``cache_keying``: ``"observed"`` or ``"declared"`` (``default``: the middleware's ``keying``)."""
    if value is None:
        return default
    return check_keying(value, f"cache_keying on route {route!r}")


def check_keying(value: object, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in KEYINGS:
        raise ValueError(
            f'{where} must be "observed" (keys made of what the handler read) or "declared" (the route\'s '
            f"cache_vary and the whole query string, for handlers that read the request through channels the "
            f"cache cannot see), got {value!r}"
        )
    return value.lower()


def ignored_inputs(route: str, value: object) -> Ignored:
    """``cache_ignore``: ``("header:user-agent", "cookie:_ga", "query:utm_*")``, glob patterns."""
    where = f"cache_ignore on route {route!r}"
    if value is None:
        return NOTHING_IGNORED
    listed = (value,) if isinstance(value, str) else value
    if not isinstance(listed, (tuple, list, set, frozenset)):
        raise TypeError(f'{where} must be a tuple of inputs such as ("query:utm_*", "cookie:_ga"), got {value!r}')
    kinds: dict[str, list[str]] = {kind: [] for kind in IGNORE_KINDS}
    for entry in listed:
        kind, _, pattern = entry.partition(":") if isinstance(entry, str) else ("", "", "")
        if kind not in kinds or not pattern.strip():
            raise ValueError(
                f"{where} has {entry!r}: write each input as header:<name>, cookie:<name> or query:<name>, "
                f'where a name may hold * and ? (such as "query:utm_*")'
            )
        pattern = pattern.strip()
        if kind == "header":
            pattern = pattern.lower()
            if not is_field_name(pattern.replace("*", "x").replace("?", "x")):
                raise ValueError(f"{where} has {entry!r}, which is not a header name pattern")
        kinds[kind].append(pattern)
    return Ignored(tuple(kinds["header"]), tuple(kinds["cookie"]), tuple(kinds["query"]))


def observed_recipe(
    names: tuple[str, ...], per_credentials: bool, read: ReadInputs | None, ignored: Ignored, shareable: bool = False
) -> VaryRecipe:
    """The recipe of a response: the fields ``names`` (the route's ``cache_vary`` and the
    response's ``Vary``) and, when the handler's reads were observed (``read``), every header,
    cookie and query parameter it read that ``ignored`` does not name.

    ``Authorization`` read, or every header, keys the response per credentials (an HMAC, never
    the value), unless the response is explicitly ``shareable`` (``public``, ``s-maxage``, a
    public route: said to be the same for every user); the whole ``Cookie`` field read counts as
    every cookie read."""
    if read is None:
        return _interned(tuple(sorted(set(names))), per_credentials, (), None, False)
    if read is NOTHING_READ:  # the common case: a handler that reads nothing of its request
        return _interned(tuple(sorted(set(names))), per_credentials, (), (), False)
    fields = set(names)
    headers = read.headers
    fields.update(
        name
        for name in headers
        if name not in INTERPRETED_FIELDS and name not in ("authorization", "cookie") and not ignored.header(name)
    )
    per_credentials = per_credentials or (not shareable and (read.every_header or "authorization" in headers))
    if "cookie" in fields or per_credentials:
        cookies: tuple[str, ...] = ()  # the whole Cookie field is in the key already
    elif read.every_cookie or read.every_header or "cookie" in headers:
        cookies = (EVERY,)
    else:
        cookies = tuple(sorted(name for name in read.cookies if not ignored.cookie(name)))
    queries = None if read.every_query else tuple(sorted(name for name in read.queries if not ignored.query(name)))
    return _interned(tuple(sorted(fields)), per_credentials, cookies, queries, read.every_header)


_RECIPES: dict[tuple[object, ...], VaryRecipe] = {}
MAX_INTERNED = 4096


def _interned(
    names: tuple[str, ...],
    per_credentials: bool,
    cookies: tuple[str, ...],
    queries: tuple[str, ...] | None,
    every_header: bool,
) -> VaryRecipe:
    """One ``VaryRecipe`` object per recipe: a route's responses share theirs, so comparing them
    is an identity check (``Learned``, the variant memo). Bounded: forgotten all at once when full."""
    key = (names, per_credentials, cookies, queries, every_header)
    recipe = _RECIPES.get(key)
    if recipe is None:
        if len(_RECIPES) >= MAX_INTERNED:
            _RECIPES.clear()
        recipe = _RECIPES[key] = VaryRecipe(names, per_credentials, cookies, queries, every_header)
    return recipe


def describe_key(recipe: VaryRecipe) -> str:
    """The inputs ``recipe`` keys on, for ``Cache-Status``'s ``key`` (``debug=True``): such as
    ``header:accept cookie:session query:page``; ``*`` for all of a kind, ``credentials`` for
    a key per user. At most 512 characters."""
    parts = [f"header:{name}" for name in recipe.field_names]
    if recipe.every_header:
        parts.append("header:*")
    parts += [f"cookie:{name}" for name in recipe.cookies]
    parts += ["query:*"] if recipe.queries is None else [f"query:{name}" for name in recipe.queries]
    if recipe.per_credentials:
        parts.append("credentials")
    described = " ".join(parts)
    return described if len(described) <= 512 else described[:509] + "..."


def read_everything(recipe: VaryRecipe, read: ReadInputs | None) -> str | None:
    """Which kind of input a response is keyed on all of because its handler ``read`` them all
    (``"headers"``, ``"cookies"`` or ``"query"``, the first that applies), for
    ``Cache-Status``'s ``detail``; else ``None``."""
    if read is None:
        return None
    if recipe.every_header:
        return "headers"
    if recipe.cookies == (EVERY,):
        return "cookies"
    return "query" if read.every_query else None


MAX_NOTE = 1024


def note(recipe: VaryRecipe, values: dict[str, str | None], query: str, groups: tuple[str, ...]) -> str:
    """What ``inspect`` shows of a stored response's key (``debug=True``): the request's values of
    the fields it is keyed on (``values``), its query as keyed, its cookies and credentials only
    as "per user" (never their values), and its groups. At most ``MAX_NOTE`` characters."""
    parts = [f"{name}: {'(none)' if values.get(name) is None else values[name]}" for name in recipe.field_names]
    if recipe.every_header:
        parts.append("every header: per user")
    parts += [f"cookie {name}: per user" for name in recipe.cookies]
    if recipe.per_credentials:
        parts.append("credentials: per user")
    parts.append(f"query: {query or '(none)'}")
    if groups:
        parts.append(f"groups: {', '.join(groups)}")
    noted = "; ".join(parts)
    return noted if len(noted) <= MAX_NOTE else noted[: MAX_NOTE - 3] + "..."
