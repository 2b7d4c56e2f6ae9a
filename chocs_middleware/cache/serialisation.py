r"""The stored form of index entries and responses: versioned, code-free, strictly validated.

Layout (bytes)::

    chocs-cache 2 response\n{"s":200,"h":{"content-type":["text/plain"]},"t":1795240587.617,...}\n<body>
    chocs-cache 2 index\n{"g":"6eb4a5c2757a","r":[[["accept"],0]],"v":[["v7eb9...",1795244187]]}

The first line names the format version and the kind of entry; the metadata is JSON (it holds
no code, unlike the pickles of 1.0: whoever can write to a shared storage cannot run code in
the app); the body follows as raw bytes. Anything that does not match exactly raises
``DecodeError``; callers treat that entry as a miss.

Metadata keys are one letter because they are kept once per cached response (memory per entry
is a product target):

- response: ``s`` status, ``h`` headers (name to list of values), ``t`` stored at (epoch
  seconds, ms precision), ``l`` freshness lifetime (s), ``g`` index generation, ``d`` derived
  headers (below); ``p`` 1 when explicitly shareable, ``n`` 1 when ``no-cache``, ``w`` and ``e``
  the stale-while-revalidate and stale-if-error seconds; all four left out when 0.

The validators the middleware generates are not kept as text: ``Date`` and ``Last-Modified``
are the stored-at time and the ``ETag`` a digest of the body, so when the last headers of a
response are exactly those values they are left out and named in ``d`` (``D`` date, ``E``
etag, ``L`` last-modified), and decoding puts them back, in that order, at the end. That is
~120 bytes less per entry; a header that differs in any way is kept as it is.
- index: ``g`` generation, ``r`` vary recipes as [field names, 1 when per credentials else 0],
  ``v`` variants as [id, expires at (epoch seconds)].
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from .entries import ResourceIndex, StoredResponse, VaryRecipe
from .semantics.dates import format_http_date
from .semantics.entity_tags import generate_entity_tag

__all__ = ["DecodeError", "decode_index", "decode_response", "encode_index", "encode_response"]

FORMAT_VERSION = 2
_RESPONSE_TAG = f"chocs-cache {FORMAT_VERSION} response\n".encode()
_INDEX_TAG = f"chocs-cache {FORMAT_VERSION} index\n".encode()


class DecodeError(ValueError):
    """The bytes are not an entry of this format version (corrupt, foreign or from another version)."""


def _dump(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()


# Code, header name, and how the value derives from (stored at, body); in the order they are added.
_DERIVED_HEADERS: tuple[tuple[str, str, Callable[[float, bytes], str]], ...] = (
    ("D", "date", lambda stored_at, body: format_http_date(stored_at)),
    ("E", "etag", lambda stored_at, body: generate_entity_tag(body)),
    ("L", "last-modified", lambda stored_at, body: format_http_date(stored_at)),
)


def encode_response(response: StoredResponse) -> bytes:
    stored_at = round(response.stored_at, 3)
    fields = list(response.headers)
    derived = ""
    for code, name, derive in reversed(_DERIVED_HEADERS):
        if fields and fields[-1] == (name, (derive(stored_at, response.body),)):
            fields.pop()
            derived = code + derived
    meta: dict[str, Any] = {
        "s": response.status,
        "h": dict(fields),
        "t": stored_at,
        "l": response.lifetime,
        "g": response.generation,
    }
    if derived:
        meta["d"] = derived
    if response.public:
        meta["p"] = 1
    if response.no_cache:
        meta["n"] = 1
    if response.stale_while_revalidate:
        meta["w"] = response.stale_while_revalidate
    if response.stale_if_error:
        meta["e"] = response.stale_if_error
    return b"".join((_RESPONSE_TAG, _dump(meta), b"\n", response.body))


def decode_response(blob: bytes) -> StoredResponse:
    meta, body = _split(blob, _RESPONSE_TAG)
    try:
        stored_at = _number(meta["t"])
        headers = [
            (_str(name), tuple(_str(value) for value in _list(values))) for name, values in _dict(meta["h"]).items()
        ]
        derived = _str(meta.get("d", ""))
        for code, name, derive in _DERIVED_HEADERS:
            if code in derived:
                headers.append((name, (derive(stored_at, body),)))
        return StoredResponse(
            status=_int(meta["s"]),
            headers=tuple(headers),
            body=body,
            stored_at=stored_at,
            lifetime=_int(meta["l"]),
            generation=_str(meta["g"]),
            public=_flag(meta.get("p", 0)),
            no_cache=_flag(meta.get("n", 0)),
            stale_while_revalidate=_int(meta.get("w", 0)),
            stale_if_error=_int(meta.get("e", 0)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed response entry: {error!r}") from None


def encode_index(index: ResourceIndex) -> bytes:
    meta = {
        "g": index.generation,
        "r": [(recipe.field_names, int(recipe.per_credentials)) for recipe in index.recipes],
        "v": [(variant, math.ceil(expires_at)) for variant, expires_at in index.variants],
    }
    return _INDEX_TAG + _dump(meta)


def decode_index(blob: bytes) -> ResourceIndex:
    meta, rest = _split(blob, _INDEX_TAG)
    if rest:
        raise DecodeError("index entry with trailing bytes")
    try:
        return ResourceIndex(
            generation=_str(meta["g"]),
            recipes=tuple(
                VaryRecipe(tuple(_str(name) for name in _list(names)), _flag(per_credentials))
                for names, per_credentials in _list(meta["r"])
            ),
            variants=tuple((_str(vid), _number(expires)) for vid, expires in _list(meta["v"])),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed index entry: {error!r}") from None


def _split(blob: bytes, tag: bytes) -> tuple[dict[str, Any], bytes]:
    if not isinstance(blob, (bytes, bytearray)) or not blob.startswith(tag):
        raise DecodeError("not an entry of this kind and format version")
    end = blob.find(b"\n", len(tag))
    meta_bytes = blob[len(tag) :] if end < 0 else blob[len(tag) : end]
    rest = b"" if end < 0 else bytes(blob[end + 1 :])
    try:
        meta = json.loads(meta_bytes)
    except (ValueError, RecursionError) as error:
        raise DecodeError(f"metadata is not JSON: {error}") from None
    if not isinstance(meta, dict):
        raise DecodeError("metadata is not an object")
    return meta, rest


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _flag(value: object) -> bool:
    if value not in (0, 1) or isinstance(value, float):
        raise TypeError(f"expected 0 or 1, got {value!r}")
    return bool(value)


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value
