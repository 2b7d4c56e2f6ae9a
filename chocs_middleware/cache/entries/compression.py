"""How stored entries are compressed (``docs/design.md``, "Storage model"): zlib streams any
decoder reads, tried only where they pay, and decoded within bounds (a shared storage may hold
entries someone else planted).

- A response kept apart has its body compressed alone, when that saves a tenth of it.
- An index that carries a response has its line and the response's metadata in one stream with a
  preset dictionary of what they mostly say; the body follows inside the stream when it
  compresses, else raw after it.
"""

from __future__ import annotations

import zlib

__all__ = [
    "CARRIED_DICTIONARY",
    "COMPRESSIBLE_SIZES",
    "MAX_CARRIED_METADATA",
    "carried_stream",
    "compressed",
    "decompressed",
    "opened_stream",
]

COMPRESSIBLE_SIZES = range(512, 8 * 1024 + 1)
"""Bodies of these sizes are kept compressed (zlib, level 1) when they compress: an entry this
small is decoded once and then memoised (``guard.RESPONSES``, ``guard.INDEXES``), so a hot hit
never pays for it, and a larger body, decoded on every hit, is kept as it came."""
_WINDOW_BITS, _MEMORY_LEVEL = 13, 6
"""An 8 KiB window (the largest body compressed) and a smaller hash: zlib's state then takes
~64 KiB instead of ~256 KiB, which the allocator gives without mapping fresh pages, and a 2 KB
body compresses in a tenth of the time, to within a few bytes of the default (measured in
``make bench``'s miss row). The stream is ordinary zlib: any decoder reads it."""
_SAMPLE, _MOST_DISTINCT = 256, 128
"""A body whose first 256 bytes hold more than 128 different values is taken for compressed or
random data (text, JSON, HTML and base64 hold far fewer) and kept as it came, untried. A sample
that is all ASCII is text, told in a fraction of the time counting takes."""
MAX_CARRIED_METADATA = 64 * 1024
"""A carrying index's stream never holds more than its largest body and this much besides."""
CARRIED_DICTIONARY = (
    b'"etag":["W/\\"","last-modified":["","content-type":["text/html; charset=utf-8"],'
    b'"cache-control":["private, max-age=","cache-control":["public, max-age=","cache-control":["no-cache"],'
    b'"vary":["accept, accept-language, cookie"]},"w":60,"e":300,"p":1,"u":1,"n":1,"K":"'
    b',"l":60,"d":"DE","k":3600,"a":1}\n'
    b'{"g":"","r":[[["accept","accept-language"],0]],"v":[["v",1800000000]],"c":0}\n'
    b'chocs-cache 3 index\n{"g":"","r":[[["accept","accept-language"],0,[],[],0]],"v":[["v",17962]],"c":0}\n'
    b'{"s":200,"h":{"content-type":["application/json"],"cache-control":["max-age=3600"],'
    b'"vary":["accept, accept-language"]},"t":17962.0,"l":3600,"d":"DEL","k":3600,"a":1}\n'
)
"""zlib's preset dictionary for a carrying index's stream: what its lines mostly say (the
version line, the format's keys, the default recipes and ``Vary``, the usual ``Cache-Control``
and types; a whole typical entry last, where matches cost least), so that they take ~75 bytes
instead of ~320. Part of the format: a stream made with another dictionary does not decompress."""
_CARRIED_WINDOW_BITS = -13
"""A raw stream (no zlib header or checksum: 6 bytes less per entry; what it holds is checked
as strictly as any entry's metadata)."""


def _compresses(body: bytes) -> bool:
    """Whether ``body`` is worth trying (``COMPRESSIBLE_SIZES``, ``_SAMPLE``)."""
    if len(body) not in COMPRESSIBLE_SIZES:
        return False
    sample = body[:_SAMPLE]
    return sample.isascii() or len(set(sample)) <= _MOST_DISTINCT


def compressed(body: bytes) -> bytes | None:
    """A response's body compressed, when it is worth keeping so: of one of ``COMPRESSIBLE_SIZES``,
    and a tenth saved."""
    if not _compresses(body):
        return None
    compressor = zlib.compressobj(1, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL)
    packed = compressor.compress(body) + compressor.flush()
    return packed if len(packed) <= len(body) - len(body) // 10 else None


def decompressed(data: bytes) -> bytes:
    """What ``compressed`` compressed; never more than the largest body it compresses."""
    expander = zlib.decompressobj()
    plain = _expanded(expander, data, COMPRESSIBLE_SIZES.stop)
    if expander.unused_data:
        raise ValueError("compressed body with trailing bytes")
    if len(plain) not in COMPRESSIBLE_SIZES:
        raise ValueError("compressed body of a size the encoder does not compress")
    return plain


def carried_stream(lines: bytes, body: bytes) -> bytes:
    """A carrying index's ``lines`` (its version line, its line and its response's metadata line,
    each ending in a newline) in one stream with ``CARRIED_DICTIONARY``, then ``body``: inside the
    stream when it compresses, else as it came, after the stream's end."""
    compressor = zlib.compressobj(
        1, zlib.DEFLATED, _CARRIED_WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, CARRIED_DICTIONARY
    )
    if _compresses(body):
        return b"".join((compressor.compress(lines), compressor.compress(body), compressor.flush()))
    return b"".join((compressor.compress(lines), compressor.flush(), body))


def opened_stream(data: bytes) -> tuple[bytes, bytes]:
    """What ``carried_stream`` wrote: what the stream holds, and what follows it."""
    expander = zlib.decompressobj(_CARRIED_WINDOW_BITS, zdict=CARRIED_DICTIONARY)
    return _expanded(expander, data, COMPRESSIBLE_SIZES.stop + MAX_CARRIED_METADATA), expander.unused_data


def _expanded(expander: zlib._Decompress, data: bytes, limit: int) -> bytes:
    """One whole stream from the start of ``data``, never more than ``limit`` bytes."""
    try:
        plain = expander.decompress(data, limit)
    except zlib.error as error:
        raise ValueError(f"compressed entry does not decompress: {error}") from None
    if expander.unconsumed_tail or not expander.eof:
        raise ValueError("compressed entry larger than the encoder compresses, or cut short")
    return plain
