"""Storage ids of a resource's index and of its variants.

An id is a digest of the ``repr`` of a tuple of strings, so no value can be mistaken for a
separator (1.0 concatenated header values: ``Accept: text/html`` + ``Accept-Language: en``
gave the same key as ``Accept: text/htmlen``). Digests also keep credentials and long URLs
out of storage keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter
from urllib.parse import parse_qsl, quote, urlencode

from .semantics.uris import same_origin_references

__all__ = ["canonical_query", "changed_resources", "resource_id", "variant_id"]

_QUERY_NEEDS_PARSING = ("&", "%", "+")


def canonical_query(raw: str) -> str:
    """The query string with parameters sorted by name and encoding made uniform.

    Parameters with the same name keep their relative order (``a=1&a=2`` and ``a=2&a=1`` are
    different resources); ``b=2&a=1`` and ``a=1&b=2`` are the same one, as are ``q=a%20b`` and
    ``q=a+b``.
    """
    if not raw or not any(mark in raw for mark in _QUERY_NEEDS_PARSING):
        return raw
    pairs = parse_qsl(raw, keep_blank_values=True)
    pairs.sort(key=itemgetter(0))
    return urlencode(pairs, quote_via=quote)


def _digest(parts: tuple[object, ...]) -> str:
    # 96 bits: no collision in any cache's lifetime, and keys stay short (they are kept per entry).
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


# Ids are memoised: a hot resource is asked for on every hit, and the repr of nested tuples
# costs more than the hash itself. The memo is small and bounded.
_MEMO_SIZE = 1024


@lru_cache(maxsize=_MEMO_SIZE)
def resource_id(host: str, path: str, query: str) -> str:
    """The id of a resource's index entry: its host, path and (canonicalised) query string."""
    return "r" + _digest((host.lower(), path, canonical_query(query)))


@lru_cache(maxsize=_MEMO_SIZE)
def variant_id(
    resource: str,
    field_names: tuple[str, ...],
    field_values: tuple[str | None, ...],
    credentials: tuple[str | None, ...] | None = None,
) -> str:
    """The id of one stored response of ``resource``.

    ``field_values`` are the request's normalised values of ``field_names`` (``None`` when the
    request lacks the field, which differs from an empty value, RFC 9111 §4.1); ``credentials``
    (the request's ``Authorization`` and ``Cookie``) only for responses stored per user. They
    end up in the digest, never in a storage key as text.
    """
    return "v" + _digest((resource, field_names, field_values, credentials))


def changed_resources(host: str, path: str, resource: str, named: Iterable[str]) -> list[str]:
    """The resources a successful write changed (RFC 9111 §4.4): its target ``resource``, and the
    same-origin URIs ``named`` in its answer's ``Location`` / ``Content-Location``."""
    references = same_origin_references(host, path, named)
    return [resource, *(resource_id(host, ref_path, query) for ref_path, query in references)]
