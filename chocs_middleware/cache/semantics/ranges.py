"""Byte ranges of a stored representation (RFC 9110 §14): ``Range``, ``If-Range``, 206 and 416."""

from __future__ import annotations

import re
from typing import NamedTuple, Union

from .dates import parse_http_date
from .entity_tags import parse_entity_tag

__all__ = ["ByteRange", "Unsatisfiable", "content_range", "range_applies", "select_range"]

_BYTE_RANGES = re.compile(r"bytes[ \t]*=[ \t]*(.*)\Z", re.IGNORECASE | re.DOTALL)
_SPEC = re.compile(r"[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*\Z")
MAX_RANGE_LENGTH = 1024


class ByteRange(NamedTuple):
    """The bytes ``first`` to ``last`` (inclusive) of a representation ``length`` bytes long."""

    first: int
    last: int
    length: int


class Unsatisfiable(NamedTuple):
    """No range of the request overlaps the representation: 416 (RFC 9110 §15.5.17)."""

    length: int


Selection = Union[ByteRange, Unsatisfiable, None]


def select_range(value: str, length: int) -> Selection:
    """What a ``Range`` field asks of a representation ``length`` bytes long.

    One satisfiable byte range (``bytes=0-4``, ``bytes=5-``, ``bytes=-3``) is a ``ByteRange``;
    ``Unsatisfiable`` when no range overlaps the representation; ``None`` when the field is to be
    ignored and the whole representation sent: another unit, a malformed field, or several
    ranges (which a server may answer in full, §14.2).
    """
    if len(value) > MAX_RANGE_LENGTH:
        return None
    match = _BYTE_RANGES.match(value.strip(" \t"))
    if match is None:
        return None
    specs = [spec for spec in match.group(1).split(",") if spec.strip(" \t")]
    if len(specs) != 1:
        return None
    spec = _SPEC.match(specs[0])
    if spec is None or spec.groups() == ("", ""):
        return None
    first_text, last_text = spec.groups()
    if first_text:
        first = int(first_text)
        last = int(last_text) if last_text else length - 1
        if last_text and last < first:
            return None  # invalid: ignored
        if first >= length:
            return Unsatisfiable(length)
        return ByteRange(first, min(last, length - 1), length)
    suffix = int(last_text)
    if suffix == 0 or length == 0:
        return Unsatisfiable(length)
    return ByteRange(max(0, length - suffix), length - 1, length)


def range_applies(if_range: str | None, etag: str | None, last_modified: str | None) -> bool:
    """Whether ``Range`` is honoured given ``If-Range`` (RFC 9110 §13.1.5): without one, yes; with
    an entity tag, only when it strongly matches the representation's; with a date, only when it
    is exactly its ``Last-Modified``."""
    if if_range is None:
        return True
    value = if_range.strip(" \t")
    if value.startswith(('"', "W/")):
        wanted, current = parse_entity_tag(value), parse_entity_tag(etag) if etag else None
        return wanted is not None and current is not None and current.strong_match(wanted)
    date = parse_http_date(value)
    return date is not None and last_modified is not None and parse_http_date(last_modified) == date


def content_range(selection: ByteRange | Unsatisfiable) -> str:
    """The ``Content-Range`` of a 206 (``bytes 0-4/10``) or a 416 (``bytes */10``)."""
    if isinstance(selection, Unsatisfiable):
        return f"bytes */{selection.length}"
    return f"bytes {selection.first}-{selection.last}/{selection.length}"
