"""Storage ids: a path's index, its stored responses, cache groups; and the canonical form of a URL.

An id is a digest of the ``repr`` of a tuple of strings, so no value can be mistaken for a
separator (1.0 concatenated header values: ``Accept: text/html`` + ``Accept-Language: en``
gave the same key as ``Accept: text/htmlen``). Digests also keep credentials and long URLs
out of storage keys.

The index is per host and path; each stored response's id adds the canonical query string and
the request's vary values (``docs/design.md``, "Storage model"). Two spellings of a URL share an
id only when chocs hands the handler the same input for both: the path is rebuilt from the
route's pattern and the parameters chocs parsed (``/USERS/+1`` and ``/users/1`` are one resource
on ``/users/{id}``), and the query string is put in an order that chocs' own parser cannot tell
apart. Spellings that chocs parses to numbers Python holds equal (``/users/1``, ``/users/1.0``,
``/users/true``) keep responses of their own but share one index, so that a write to any of them
invalidates them all (``resource_path``). Memoising ids is the caller's business (``target.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlencode

from ..common.memo import BoundedMemo
from ..decisions.group_names import fill_pattern
from ..semantics.uris import host_name, same_origin_references
from ..storages.protocol import GROUP_KIND, INDEX_KIND, LOCALITY_LENGTH, RESPONSE_KIND

__all__ = [
    "HOSTS",
    "ancestors",
    "canonical_path",
    "canonical_query",
    "changed_resources",
    "credentials_mac",
    "group_id",
    "host_name",
    "keyed_query",
    "path_group_id",
    "prefix_group",
    "resource_id",
    "resource_path",
    "template_group",
    "uri_prefix",
    "variant_id",
]

_QUERY_NEEDS_PARSING = ("&", "%", "+")


def canonical_path(pattern: str, parameters: Mapping[str, object], path: str) -> str:
    """The path of a request as the route that answered it sees it.

    A route's literal text is matched without regard to case, and each parameter is parsed (chocs
    turns ``+1``, `` 1`` and ``1`` all into the number 1); so the route's own ``pattern`` with each
    parameter's parsed value in its place names the resource. A wildcard route keeps ``path``.
    """
    return path if "*" in pattern else fill_pattern(pattern, parameters)


def canonical_query(raw: str) -> str:
    """The query string with its parameters in a canonical order and encoding.

    Parameters are ordered by name, where the name of ``a[]`` or ``a[x]`` is ``a``: chocs merges
    those into one value, in the order they came, so their relative order is kept (``a=1&a=2``
    and ``a=2&a=1`` are different resources, and so are ``a[]=2&a=1`` and ``a=1&a[]=2``).
    ``b=2&a=1`` and ``a=1&b=2`` are the same one, as are ``q=a%20b`` and ``q=a+b``.
    """
    if not raw or not any(mark in raw for mark in _QUERY_NEEDS_PARSING):
        return raw
    pairs = parse_qsl(raw, keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0].split("[", 1)[0])  # stable: same names keep their order
    return urlencode(pairs, quote_via=quote)


def _digest(parts: tuple[object, ...], size: int = 12) -> str:
    # 96 bits: no collision in any cache's lifetime, and keys stay short (they are kept per entry).
    return hashlib.blake2b(repr(parts).encode(), digest_size=size).hexdigest()


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUTH = {"true": "1", "false": "0"}


def resource_path(path: str) -> str:
    """The path as invalidation sees it: a segment that is a number, ``true`` or ``false`` is
    written as its number's one spelling (``/users/1.0``, ``/users/1e0`` and ``/users/true`` are
    ``/users/1``). chocs hands a handler ``1``, ``1.0`` or ``True`` for those, which Python holds
    equal, so a handler that looks a row up by them finds the same row: a write to any spelling
    must reach the responses of all of them."""
    known: str | None = _RESOURCE_PATHS.get(path)  # a miss asks for its path's three times (its id, spelling, group)
    if known is not None:
        return known
    if _DIGIT.search(path) is None and "true" not in path and "false" not in path:
        normalised = path
    else:
        normalised = "/".join(_segment(segment) for segment in path.split("/"))
    return _RESOURCE_PATHS.remember(path, normalised, len(path))


_DIGIT = re.compile(r"\d")
_RESOURCE_PATHS: BoundedMemo[str, str] = BoundedMemo(None, 4096, 1024)


def _segment(text: str) -> str:
    if text.isdigit() and text.isascii() and len(text) <= 15:  # the common case: a whole number, exact as a float
        return str(int(text))
    if text in _TRUTH:
        return _TRUTH[text]
    if not _NUMBER.fullmatch(text):
        return text
    number = float(text)
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def resource_id(host: str, path: str) -> str:
    """The id of the index of a path on a host: one index covers every query string of the path,
    and every spelling of it (``resource_path``), so that a write invalidates all of them at once
    (docs/invalidation.md)."""
    return INDEX_KIND + _digest((host.lower(), resource_path(path)))


def uri_prefix(resource: str, query: str, path: str | None = None) -> str:
    """What the ids of every stored response of one URI (``resource`` and its canonical ``query``)
    start with: the resource's own first six characters (``slot_tag``), then 32 bits that tell,
    within one index, whether a URI has responses stored at all (``uri-miss``) or only for other
    request headers (``vary-miss``). ``path``: the path as requested, when it is another spelling
    than ``resource_path`` gives (its responses are kept apart)."""
    parts = (resource, query) if path is None else (resource, query, path)
    return RESPONSE_KIND + resource[1 : LOCALITY_LENGTH + 1] + _digest(parts, 4)


def keyed_query(raw: str, names: tuple[str, ...] | None, ignored: Callable[[str], bool] | None = None) -> str:
    """The query string as a recipe keys it (``canonical_query``'s order and encoding): only the
    parameters ``names`` (the handler read them; ``None``: all), less those ``ignored`` says.
    A name covers its ``name[...]`` forms, which the framework merges into it."""
    if not raw:
        return raw
    pairs = parse_qsl(raw, keep_blank_values=True)
    kept = [
        pair
        for pair in pairs
        if (names is None or pair[0].split("[", 1)[0] in names)
        and (ignored is None or not ignored(pair[0].split("[", 1)[0]))
    ]
    kept.sort(key=lambda pair: pair[0].split("[", 1)[0])
    return urlencode(kept, quote_via=quote)


def variant_id(
    resource: str,
    query: str,
    field_names: tuple[str, ...],
    field_values: tuple[str | None, ...],
    credentials: str | None = None,
    path: str | None = None,
    observed: str | None = None,
) -> str:
    """The id of one stored response of ``resource``: its ``uri_prefix``, then a digest of everything.

    ``query`` is the request's canonical query string (``canonical_query``). ``field_values``
    are the request's values of ``field_names`` as the route keys them (``None`` when the request
    lacks the field, which differs from an empty value, RFC 9111 §4.1); ``credentials`` only for
    responses stored per user: ``credentials_mac`` of them, never the credentials themselves.
    ``path``: as for ``uri_prefix``. ``observed``: what an observed recipe keys on beyond these
    (``VaryRecipe``), so that no two recipes give one id.
    """
    parts: tuple[object, ...] = (resource, query, field_names, field_values, credentials)
    if path is not None:
        parts = (*parts, path)
    if observed is not None:
        parts = (*parts, observed)
    return uri_prefix(resource, query, path) + _digest(parts)


def credentials_mac(secret: bytes, *credentials: str | None) -> str:
    """The request's credentials (its values of ``CREDENTIAL_FIELDS``, in order) as a key part:
    HMAC-SHA-256 under ``secret``, so that what storage holds cannot be tested against guessed
    passwords without the secret (docs/security.md)."""
    return hmac.new(secret, repr(credentials).encode(), hashlib.sha256).hexdigest()


def group_id(host: str | None, group: str) -> str:
    """The id of a cache group (RFC 9875) of one origin's responses; ``host=None``: the group's
    name on every host, which lists its members of every host too (``purge_groups``)."""
    return GROUP_KIND + _digest(("group", None if host is None else host.lower(), group))


def path_group_id(path: str) -> str:
    """The id of the group of every stored response of a path on every host (every spelling,
    ``resource_path``): what ``purge("/path")`` removes."""
    return GROUP_KIND + _digest(("path", resource_path(path)))


MAX_PREFIX_DEPTH = 3
"""A stored path is listed under its first three ancestors at most (``/a/``, ``/a/b/``, ``/a/b/c/``):
``purge_prefix`` reaches deeper prefixes through them, by a shallower one."""
_PARAMETER_NAME = re.compile(r"\{[^}/]*\}")


def template_group(pattern: str) -> str:
    """The name of the group of every stored response of a route (``/users/{user_id}``), kept
    like a cache group's (``group_id``: on each host, and on every host); the parameters' names
    do not count (``/users/{id}`` names the same route). No group a response names can be
    called so: those are printable (RFC 9875)."""
    return "\x00template " + _PARAMETER_NAME.sub("{}", pattern)


def prefix_group(prefix: str) -> str:
    """The name of the group of every stored response of the paths under ``prefix`` (``/reports/``)."""
    return "\x00prefix " + prefix


def ancestors(path: str) -> list[str]:
    """The prefixes a path is listed under (``resource_path`` spelling): ``/a/b/c`` gives ``/a/``
    and ``/a/b/``, at most ``MAX_PREFIX_DEPTH`` of them."""
    segments = resource_path(path).split("/")[1:-1]
    return ["/" + "/".join(segments[: depth + 1]) + "/" for depth in range(min(len(segments), MAX_PREFIX_DEPTH))]


HOSTS = GROUP_KIND + _digest(("hosts",))
"""The id of the group listing every host that has stored responses (for purges on every host)."""


def changed_resources(host: str, path: str, resource: str, named: Iterable[str]) -> list[tuple[str, str]]:
    """The resources a successful write changed (RFC 9111 §4.4), with their URLs: its target
    ``resource`` (URL ``""``: the request's own), and the same-origin URIs ``named`` in its
    answer's ``Location`` / ``Content-Location``."""
    references = same_origin_references(host, path, named)
    return [
        (resource, ""),
        *((resource_id(host, ref_path), f"//{host}{ref_path}") for ref_path, _query in references),
    ]
