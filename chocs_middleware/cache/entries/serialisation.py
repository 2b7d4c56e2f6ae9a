r"""The stored form of index entries and responses: versioned, code-free, strictly validated.

Layout (bytes)::

    chocs-cache 2 response\n{"s":200,"h":{"content-type":["text/plain"]},"t":1795240587.617,...}\n<body>
    chocs-cache 2 index\n{"g":"6eb4a5c2757a","r":[[["accept"],0]],"v":[["v7eb9...",1795244187]]}
    chocs-cache 2 index\n{"g":"6eb4a5c2757a",...,"c":0}\n{"s":200,...}\n<body>

The first line names the format version and the kind of entry; the metadata is JSON (it holds
no code, unlike the pickles of 1.0: whoever can write to a shared storage cannot run code in
the app); the body follows as raw bytes. Anything that does not match exactly raises
``DecodeError``; callers treat that entry as a miss.

Metadata keys are one letter because they are kept once per cached response (memory per entry
is a product target):

- response: ``s`` status, ``h`` headers (name to list of values), ``t`` stored at (epoch
  seconds, ms precision), ``l`` freshness lifetime (s), ``g`` index generation, ``d`` derived
  headers (below); ``p`` 1 when explicitly shareable, ``n`` 1 when ``no-cache``, ``w`` and ``e``
  the stale-while-revalidate and stale-if-error seconds, ``k`` the seconds it is kept to be
  revalidated, ``a`` 1 when its ``Cache-Control`` was written by the cache, ``z`` 1 when the body
  is kept compressed (zlib); all seven left out when 0.

The validators the middleware generates are not kept as text: ``Date`` and ``Last-Modified``
are the stored-at time and the ``ETag`` a digest of the body, so when the last headers of a
response are exactly those values they are left out and named in ``d`` (``D`` date, ``E``
etag, ``L`` last-modified), and decoding puts them back, in that order, at the end. That is
~120 bytes less per entry; a header that differs in any way is kept as it is.
- index: ``g`` generation, ``r`` vary recipes as [field names, 1 when per credentials else 0],
  ``v`` variants as [id, expires at (epoch seconds)]; on an invalidated index, ``i`` when it
  was invalidated and ``k`` until when it is kept; ``c`` the position in ``v`` of the variant
  whose response the entry carries (``ResourceIndex.carried``): after the index's line, the
  response's metadata line and body, without a version line or ``g`` (they are the index's),
  compressed whole (one zlib stream, with a preset dictionary, and no ``z``) when its body
  compresses.

Decoding checks every invariant the encoder keeps (statuses, header names and values that can
be sent, no ``Set-Cookie``, finite times, bounded counts), because whoever can write to a shared
storage could plant an entry: it is refused like any other that does not decode.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from typing import Any

from ..common.memo import BoundedMemo
from ..decisions.values import (
    MAX_RECIPES_PER_RESOURCE,
    MAX_VARIANTS_PER_RESOURCE,
    HeaderFields,
    ResourceIndex,
    StoredResponse,
    VaryRecipe,
)
from ..semantics.dates import format_http_date
from ..semantics.entity_tags import generate_entity_tag
from . import stored_values as check
from .stored_values import MAX_EPOCH_SECONDS, MAX_HEADER_FIELDS, MAX_ID_LENGTH

__all__ = ["DecodeError", "decode_index", "decode_response", "encode_index", "encode_response"]

FORMAT_VERSION = 2
_RESPONSE_TAG = f"chocs-cache {FORMAT_VERSION} response\n".encode()
COMPRESSIBLE_SIZES = range(512, 8 * 1024 + 1)
"""Bodies of these sizes are kept compressed (zlib, level 1) when that saves a tenth or more: an
entry this small is decoded once and then memoised (``guard.RESPONSES``), so a hot hit never pays
for it, and a larger body, decoded on every hit, is kept as it came."""
_WINDOW_BITS, _MEMORY_LEVEL = 13, 6
"""An 8 KiB window (the largest body compressed) and a smaller hash: zlib's state then takes
~64 KiB instead of ~256 KiB, which the allocator gives without mapping fresh pages, and a 2 KB
body compresses in a tenth of the time, to within a few bytes of the default (measured in
``make bench``'s miss row). The stream is ordinary zlib: any decoder reads it."""
_SAMPLE, _MOST_DISTINCT = 256, 128
"""A body whose first 256 bytes hold more than 128 different values is taken for compressed or
random data (text, JSON, HTML and base64 hold far fewer) and kept as it came, untried."""
_INDEX_TAG = f"chocs-cache {FORMAT_VERSION} index\n".encode()
MAX_CARRIED_METADATA = 64 * 1024
"""A carried response compressed whole is never more than its largest body and this much metadata."""
_CARRIED_DICTIONARY = (
    b'"etag":["W/\\"","last-modified":["","content-type":["text/html; charset=utf-8"],'
    b'"cache-control":["private, max-age=","cache-control":["public, max-age=","cache-control":["no-cache"],'
    b'"vary":["accept, accept-language, cookie"]},"w":60,"e":300,"p":1,"u":1,"n":1,"K":"'
    b',"l":60,"d":"DE","k":3600,"a":1}\n'
    b'{"s":200,"h":{"content-type":["application/json"],"cache-control":["max-age=3600"],'
    b'"vary":["accept, accept-language"]},"t":17'
)
"""zlib's preset dictionary for a carried response compressed whole: what its metadata mostly
says (the format's keys, the default ``Vary``, the usual ``Cache-Control`` and types), so that
the metadata of a compressed response takes ~60 bytes instead of ~170. Part of format 2: a
stream made with another dictionary does not decompress."""


class DecodeError(ValueError):
    """The bytes are not an entry of this format version (corrupt, foreign or from another version)."""


def _dump(meta: dict[str, Any]) -> bytes:
    return _ENCODE(meta).encode()


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""One encoder for every entry (``json.dumps`` with options makes a new one per call)."""


# Code, header name, and how the value derives from (stored at, body); in the order they are added.
_DERIVED_HEADERS: tuple[tuple[str, str, Callable[[float, bytes], str]], ...] = (
    ("D", "date", lambda stored_at, body: format_http_date(stored_at)),
    ("E", "etag", lambda stored_at, body: generate_entity_tag(body)),
    ("L", "last-modified", lambda stored_at, body: format_http_date(stored_at)),
)


def encode_response(response: StoredResponse, carried: bool = False) -> bytes:
    """``response`` in its stored form; ``carried``: as an index carries it, without the version
    line and the generation, which are the index's, and compressed whole (metadata and body) when
    its body is kept compressed."""
    stored_at = round(response.stored_at, 3)
    fields, body = response.headers, response.body
    kept, derived = len(fields), ""
    for code, name, derive in _DERIVED_LAST_FIRST:
        if kept and fields[kept - 1][0] == name and fields[kept - 1][1] == (derive(stored_at, body),):
            kept -= 1
            derived = code + derived
    compressed = None if carried else _compressed(body)
    meta = [f'{{"s":{response.status},"h":{_headers_json(fields[:kept])},"t":{stored_at!r},"l":{response.lifetime}']
    if not carried:
        meta.append(f',"g":{_ENCODE(response.generation)}')
    if derived:
        meta.append(f',"d":"{derived}"')
    for key, attribute in _OPTIONAL_NUMBERS:
        value = getattr(response, attribute)
        if value:
            meta.append(f',"{key}":{int(value)}')
    if response.noted:
        meta.append(f',"K":{_ENCODE(response.noted)}')
    if compressed is not None:
        meta.append(',"z":1')
        body = compressed
    if not carried:
        return b"".join((_RESPONSE_TAG, "".join(meta).encode(), b"}\n", body))
    plain = b"".join(("".join(meta).encode(), b"}\n", body))
    return _compressed(plain, len(body), _CARRIED_DICTIONARY) or plain


_DERIVED_LAST_FIRST = tuple(reversed(_DERIVED_HEADERS))
_OPTIONAL_NUMBERS = (
    ("p", "public"),
    ("n", "no_cache"),
    ("w", "stale_while_revalidate"),
    ("e", "stale_if_error"),
    ("k", "kept_stale"),
    ("a", "advertised"),
    ("u", "per_user"),
)
"""Metadata left out when 0, in the order they are written: flags as 1, the rest as seconds."""
_HEADER_OBJECTS: BoundedMemo[HeaderFields, str] = BoundedMemo(None, 1024, MAX_HEADER_FIELDS)
"""The JSON of the header sets stored lately: a route's responses mostly share one."""


def _headers_json(fields: HeaderFields) -> str:
    """``fields`` as the metadata's ``h`` object (one name per field, as ``StoredResponse`` keeps them)."""
    known = _HEADER_OBJECTS.get(fields)
    if known is None:
        known = _HEADER_OBJECTS.remember(fields, _ENCODE(dict(fields)), len(fields))
    return known


def decode_response(blob: bytes, carried_in: str | None = None) -> StoredResponse:
    """The stored response in ``blob``; ``DecodeError`` unless every invariant the encoder keeps
    holds (a shared storage may hold entries someone else planted). ``carried_in``: the
    generation of the index that carries it, in its carried form."""
    whole = carried_in is not None and blob[:1] != b"{"  # a carried response compressed whole
    if whole:
        try:
            blob = _decompressed(blob, COMPRESSIBLE_SIZES.stop + MAX_CARRIED_METADATA, _CARRIED_DICTIONARY)
        except ValueError as error:
            raise DecodeError(str(error)) from None
    meta, body = _split(blob, _RESPONSE_TAG if carried_in is None else b"")
    if carried_in is not None and ("g" in meta or "z" in meta):
        raise DecodeError("a carried response names a generation, or a compressed body: they are its index's")
    if whole and len(body) not in COMPRESSIBLE_SIZES:
        raise DecodeError("a carried response compressed whole, with a body of a size the encoder does not compress")
    try:
        if check.flag(meta.get("z", 0)):
            body = _decompressed(body)
        stored_at = check.epoch_time(meta["t"])
        header_map = check.mapping(meta["h"])
        check.at_most(header_map, MAX_HEADER_FIELDS, "header fields")
        headers = [(check.field_name(name), check.field_values(values)) for name, values in header_map.items()]
        derived = check.text(meta.get("d", ""))
        for code, name, derive in _DERIVED_HEADERS:
            if code in derived:
                headers.append((name, (derive(stored_at, body),)))
        return StoredResponse(
            status=check.status(meta["s"]),
            headers=tuple(headers),
            body=body,
            stored_at=stored_at,
            lifetime=check.seconds(meta["l"]),
            generation=check.generation(meta["g"]) if carried_in is None else carried_in,
            public=check.flag(meta.get("p", 0)),
            no_cache=check.flag(meta.get("n", 0)),
            stale_while_revalidate=check.seconds(meta.get("w", 0)),
            stale_if_error=check.seconds(meta.get("e", 0)),
            kept_stale=check.seconds(meta.get("k", 0)),
            advertised=check.flag(meta.get("a", 0)),
            per_user=check.flag(meta.get("u", 0)),
            noted=check.text(meta.get("K", "")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed response entry: {error!r}") from None


def encode_index(index: ResourceIndex, carried_blob: bytes | None = None) -> bytes:
    """``index`` with the response it carries after it (``carried_blob``: that response as
    ``encode_response(..., carried=True)`` gave it, when the caller has it already)."""
    meta: dict[str, Any] = {
        "g": index.generation,
        "r": [_recipe_row(recipe) for recipe in index.recipes],
        "v": [(variant, math.ceil(expires_at)) for variant, expires_at in index.variants],
    }
    if index.invalidated_at is not None:
        meta["i"] = round(index.invalidated_at, 3)
    if index.kept_until:
        meta["k"] = math.ceil(index.kept_until)
    if index.carried is None:
        return _INDEX_TAG + _dump(meta)
    variant, response = index.carried
    meta["c"] = next(number for number, (listed, _) in enumerate(index.variants) if listed == variant)
    if carried_blob is None:
        carried_blob = encode_response(response, carried=True)
    return b"".join((_INDEX_TAG, _dump(meta), b"\n", carried_blob))


def decode_index(blob: bytes) -> ResourceIndex:
    """The index in ``blob``; ``DecodeError`` unless every invariant the encoder keeps holds."""
    meta, rest = _split(blob, _INDEX_TAG)
    if rest and "c" not in meta:
        raise DecodeError("index entry with trailing bytes")
    try:
        recipes = check.at_most(check.listed(meta["r"]), MAX_RECIPES_PER_RESOURCE, "recipes")
        variants = _variants(check.at_most(check.listed(meta["v"]), MAX_VARIANTS_PER_RESOURCE, "variants"))
        invalidated_at = meta.get("i")
        generation = check.generation(meta["g"])
        return ResourceIndex(
            generation=generation,
            recipes=tuple(_recipe(check.listed(row)) for row in recipes),
            variants=variants,
            invalidated_at=None if invalidated_at is None else check.epoch_time(invalidated_at),
            kept_until=check.epoch_time(meta.get("k", 0)),
            carried=None if "c" not in meta else _carried(meta["c"], rest, generation, variants),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed index entry: {error!r}") from None


def _carried(
    position: object, blob: bytes, generation: str, variants: tuple[tuple[str, float], ...]
) -> tuple[str, StoredResponse]:
    """The response an index carries, for the variant it lists at ``position``, of its generation."""
    number = check.whole(position)
    if not 0 <= number < len(variants):
        raise ValueError("carries a response of a variant it does not list")
    return variants[number][0], decode_response(blob, carried_in=generation)


def _recipe_row(recipe: VaryRecipe) -> list[Any]:
    """A recipe as an index lists it: its fields and whether per credentials; an observed one
    also its cookies, its query parameters (``None``: all) and whether it keys on every header."""
    row: list[Any] = [recipe.field_names, int(recipe.per_credentials)]
    if recipe.observed:
        row += [recipe.cookies, recipe.queries, int(recipe.every_header)]
    return row


def _recipe(row: list[Any]) -> VaryRecipe:
    names = tuple(check.field_name(name) for name in check.listed(row[0]))
    if len(row) == 2:
        return VaryRecipe(names, check.flag(row[1]))
    _, per_credentials, cookies, queries, every_header = row
    return VaryRecipe(
        names,
        check.flag(per_credentials),
        tuple(_name(name) for name in check.listed(cookies)),
        None if queries is None else tuple(_name(name) for name in check.listed(queries)),
        check.flag(every_header),
    )


def _name(value: object) -> str:
    """A cookie or query parameter name as an index lists it."""
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"not an input name: {value!r}")
    return value


def _variants(listed: list[Any]) -> tuple[tuple[str, float], ...]:
    """An index's (variant id, expires at) pairs, checked as ``check.item_id`` and ``check.epoch_time``
    check them (written out: an index is decoded on every store, and lists up to 16)."""
    variants = []
    for entry in listed:
        vid, expires = entry
        if vid.__class__ is not str or not 0 < len(vid) <= MAX_ID_LENGTH:
            raise ValueError(f"not a variant id: {vid!r}")
        if expires.__class__ is not int or not 0 <= expires <= MAX_EPOCH_SECONDS:
            expires = check.epoch_time(expires)  # the encoder writes whole seconds; anything else is checked in full
        variants.append((vid, float(expires)))
    return tuple(variants)


def _compressed(data: bytes, body_size: int | None = None, dictionary: bytes | None = None) -> bytes | None:
    """``data`` compressed (with a preset ``dictionary``), when it is worth keeping so: its body
    (all of it, unless ``body_size`` says how much of its end) of one of ``COMPRESSIBLE_SIZES``,
    and a tenth of the body saved."""
    body_size = len(data) if body_size is None else body_size
    if body_size not in COMPRESSIBLE_SIZES or len(set(data[-body_size:][:_SAMPLE])) > _MOST_DISTINCT:
        return None
    compressor = (
        zlib.compressobj(1, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL)
        if dictionary is None
        else zlib.compressobj(1, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, dictionary)
    )
    compressed = compressor.compress(data) + compressor.flush()
    return compressed if len(compressed) <= len(data) - body_size // 10 else None


def _decompressed(data: bytes, limit: int = COMPRESSIBLE_SIZES.stop, dictionary: bytes | None = None) -> bytes:
    """What ``_compressed`` compressed; never more than ``limit`` bytes (a body alone: one of
    ``COMPRESSIBLE_SIZES``)."""
    expander = zlib.decompressobj() if dictionary is None else zlib.decompressobj(zdict=dictionary)
    try:
        plain = expander.decompress(data, limit)
    except zlib.error as error:
        raise ValueError(f"compressed entry does not decompress: {error}") from None
    if expander.unconsumed_tail or not expander.eof:
        raise ValueError("compressed entry larger than the encoder compresses")
    if limit == COMPRESSIBLE_SIZES.stop and len(plain) not in COMPRESSIBLE_SIZES:
        raise ValueError("compressed body of a size the encoder does not compress")
    return plain


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
