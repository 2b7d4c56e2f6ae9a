r"""The stored form of index entries and responses: versioned, code-free, strictly validated.

Layout (bytes)::

    chocs-cache 3 response\n{"s":200,"h":{"content-type":["text/plain"]},"t":1795240587.617,...}\n<body>
    chocs-cache 3 index\n{"g":"6eb4a5c2757a","r":[[["accept"],0]],"v":[["v7eb9...",1795244187]]}
    <raw deflate stream of: chocs-cache 3 index\n{"g":"6eb4a5c2757a",...,"c":0}\n{"s":200,...}\n[<body>]>[<body>]

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
  whose response the entry carries (``ResourceIndex.carried``). An index that carries one is
  kept as one raw deflate stream with a preset dictionary (``compression.carried_stream``): the
  version line, the index's line, the response's metadata line (without ``g``, which is the
  index's, and ``z``), and its body when that compresses; else the body follows the stream as
  it came.

Decoding checks every invariant the encoder keeps (statuses, header names and values that can
be sent, no ``Set-Cookie``, finite times, bounded counts), because whoever can write to a shared
storage could plant an entry: it is refused like any other that does not decode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring
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
from .compression import COMPRESSIBLE_SIZES, carried_stream, compressed, decompressed, opened_stream
from .stored_values import MAX_EPOCH_SECONDS, MAX_HEADER_FIELDS, MAX_ID_LENGTH

__all__ = ["DecodeError", "decode_index", "decode_response", "encode_index", "encode_response"]

FORMAT_VERSION = 3
_RESPONSE_TAG = f"chocs-cache {FORMAT_VERSION} response\n".encode()
_INDEX_TAG = f"chocs-cache {FORMAT_VERSION} index\n".encode()


class DecodeError(ValueError):
    """The bytes are not an entry of this format version (corrupt, foreign or from another version)."""


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""One encoder for every entry (``json.dumps`` with options makes a new one per call)."""
_string = encode_basestring
"""A string as ``_ENCODE`` writes it, without a call through the encoder."""


# Code, header name, and how the value derives from (stored at, body); in the order they are added.
_DERIVED_HEADERS: tuple[tuple[str, str, Callable[[float, bytes], str]], ...] = (
    ("D", "date", lambda stored_at, body: format_http_date(stored_at)),
    ("E", "etag", lambda stored_at, body: generate_entity_tag(body)),
    ("L", "last-modified", lambda stored_at, body: format_http_date(stored_at)),
)


def encode_response(response: StoredResponse) -> bytes:
    """``response`` in its stored form, kept apart from its index."""
    body = compressed(response.body)
    metadata = _metadata(response, carried=False, compressed=body is not None)
    return b"".join((_RESPONSE_TAG, metadata, b"\n", response.body if body is None else body))


def _metadata(response: StoredResponse, carried: bool, compressed: bool = False) -> bytes:
    """The metadata line of ``response`` (without its newline); ``carried``: as an index carries
    it, without the generation, which is the index's."""
    stored_at = round(response.stored_at, 3)
    fields, body = response.headers, response.body
    kept, derived = len(fields), ""
    for code, name, derive in _DERIVED_LAST_FIRST:
        if kept and fields[kept - 1][0] == name and fields[kept - 1][1] == (derive(stored_at, body),):
            kept -= 1
            derived = code + derived
    meta = [f'{{"s":{response.status},"h":{_headers_json(fields[:kept])},"t":{stored_at!r},"l":{response.lifetime}']
    if not carried:
        meta.append(f',"g":{_string(response.generation)}')
    if derived:
        meta.append(f',"d":"{derived}"')
    for key, attribute in _OPTIONAL_NUMBERS:
        value = getattr(response, attribute)
        if value:
            meta.append(f',"{key}":{int(value)}')
    if response.noted:
        meta.append(f',"K":{_string(response.noted)}')
    if compressed:
        meta.append(',"z":1')
    meta.append("}")
    return "".join(meta).encode()


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


def decode_response(blob: bytes) -> StoredResponse:
    """The stored response in ``blob`` (kept apart); ``DecodeError`` unless every invariant the
    encoder keeps holds (a shared storage may hold entries someone else planted)."""
    meta, body = _split(blob, _RESPONSE_TAG)
    try:
        if check.flag(meta.get("z", 0)):
            body = decompressed(body)
        return _response(meta, body, check.generation(meta["g"]))
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed response entry: {error!r}") from None


def _response(meta: dict[str, Any], body: bytes, generation: str) -> StoredResponse:
    """The response ``meta`` describes, with ``body``, of ``generation``."""
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
        generation=generation,
        public=check.flag(meta.get("p", 0)),
        no_cache=check.flag(meta.get("n", 0)),
        stale_while_revalidate=check.seconds(meta.get("w", 0)),
        stale_if_error=check.seconds(meta.get("e", 0)),
        kept_stale=check.seconds(meta.get("k", 0)),
        advertised=check.flag(meta.get("a", 0)),
        per_user=check.flag(meta.get("u", 0)),
        noted=check.text(meta.get("K", "")),
    )


def encode_index(index: ResourceIndex) -> bytes:
    """``index`` in its stored form, with the response it carries."""
    recipes = ",".join(_recipe_json(recipe) for recipe in index.recipes)
    variants = ",".join(f"[{_string(variant)},{math.ceil(expires_at)}]" for variant, expires_at in index.variants)
    meta = [f'{{"g":{_string(index.generation)},"r":[{recipes}],"v":[{variants}]']
    if index.invalidated_at is not None:
        meta.append(f',"i":{round(index.invalidated_at, 3)!r}')
    if index.kept_until:
        meta.append(f',"k":{math.ceil(index.kept_until)}')
    carried = index.carried
    if carried is None:
        meta.append("}")
        return _INDEX_TAG + "".join(meta).encode()
    position = 0
    while index.variants[position][0] != carried[0]:
        position += 1
    meta.append(f',"c":{position}}}\n')
    response = carried[1]
    lines = b"".join((_INDEX_TAG, "".join(meta).encode(), _metadata(response, carried=True), b"\n"))
    return carried_stream(lines, response.body)


_RECIPE_ROWS: BoundedMemo[Any, str] = BoundedMemo(None, 256, 1)
"""The JSON of the recipes stored lately (keyed by the recipe): a route's indexes mostly list the same one."""


def _recipe_json(recipe: VaryRecipe) -> str:
    known = _RECIPE_ROWS.get(recipe)
    if known is None:
        known = _RECIPE_ROWS.remember(recipe, _ENCODE(_recipe_row(recipe)), 1)
    return known


def decode_index(blob: bytes) -> ResourceIndex:
    """The index in ``blob``; ``DecodeError`` unless every invariant the encoder keeps holds."""
    if not isinstance(blob, (bytes, bytearray)):
        raise DecodeError("not an entry of this kind and format version")
    carried: tuple[bytes, bytes] | None = None
    if blob.startswith(_INDEX_TAG):
        meta, rest = _split(blob, _INDEX_TAG)
        if rest or "c" in meta:
            raise DecodeError("an index with trailing bytes, or that says it carries a response it does not hold")
    else:
        meta, carried = _opened(blob)
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
            carried=None if carried is None else _carried(meta.get("c"), carried, generation, variants),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DecodeError(f"malformed index entry: {error!r}") from None


def _opened(blob: bytes) -> tuple[dict[str, Any], tuple[bytes, bytes]]:
    """A carrying index's line (as JSON), and its response's metadata line and body."""
    try:
        inside, after = opened_stream(bytes(blob))
    except ValueError as error:
        raise DecodeError(f"not an entry of this kind and format version ({error})") from None
    lines = inside.split(b"\n", 3)
    if len(lines) != 4 or lines[0] + b"\n" != _INDEX_TAG:
        raise DecodeError("a carrying index's stream without its version line and two lines")
    _, index_line, metadata_line, body = lines
    if body and (after or len(body) not in COMPRESSIBLE_SIZES):
        raise DecodeError("a carried body the encoder would not have compressed, or two bodies")
    return _object(index_line), (metadata_line, body or after)


def _carried(
    position: object, carried: tuple[bytes, bytes], generation: str, variants: tuple[tuple[str, float], ...]
) -> tuple[str, StoredResponse]:
    """The response an index carries, for the variant it lists at ``position``, of its generation."""
    number = check.whole(position)
    if not 0 <= number < len(variants):
        raise ValueError("carries a response of a variant it does not list")
    meta = _object(carried[0])
    if "g" in meta or "z" in meta:
        raise ValueError("a carried response names a generation, or a compressed body: they are its index's")
    return variants[number][0], _response(meta, carried[1], generation)


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


def _split(blob: bytes, tag: bytes) -> tuple[dict[str, Any], bytes]:
    if not isinstance(blob, (bytes, bytearray)) or not blob.startswith(tag):
        raise DecodeError("not an entry of this kind and format version")
    end = blob.find(b"\n", len(tag))
    meta_bytes = blob[len(tag) :] if end < 0 else blob[len(tag) : end]
    rest = b"" if end < 0 else bytes(blob[end + 1 :])
    return _object(meta_bytes), rest


def _object(line: bytes) -> dict[str, Any]:
    """A metadata line: one JSON object."""
    try:
        meta = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise DecodeError(f"metadata is not JSON: {error}") from None
    if not isinstance(meta, dict):
        raise DecodeError("metadata is not an object")
    return meta
