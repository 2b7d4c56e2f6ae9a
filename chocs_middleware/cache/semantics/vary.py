"""Vary and the request fields it selects on (RFC 9110 §12.5.5, RFC 9111 §4.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "ANY",
    "is_field_name",
    "is_sendable_field_value",
    "merge_field_names",
    "normalise_field_value",
    "parse_vary",
]

ANY = "*"
"""``Vary: *``: the response varies on something outside the request; it is never stored."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_SENDABLE = re.compile(r"[\t\x20-\x7e\x80-\xff]*\Z")


def is_field_name(name: str) -> bool:
    """True when ``name`` is a valid field name: an RFC 9110 §5.6.2 token."""
    return bool(_TOKEN.match(name))


def is_sendable_field_value(value: str) -> bool:
    """True when a WSGI server can send ``value`` as a field value: latin-1 text without control
    characters other than tab (RFC 9110 §5.5 ``field-value``; CR, LF and NUL never)."""
    return bool(_SENDABLE.match(value))


def parse_vary(field_lines: Iterable[str]) -> tuple[str, ...]:
    """The lower-cased field names listed by the ``Vary`` lines, first occurrence kept.

    Returns ``(ANY,)`` when any member is ``*``. Empty members (``a,,b``) are skipped, as list
    syntax allows (RFC 9110 §5.6.1).
    """
    names: list[str] = []
    for line in field_lines:
        for member in line.split(","):
            name = member.strip().lower()
            if name == ANY:
                return (ANY,)
            if name and name not in names:
                names.append(name)
    return tuple(names)


def merge_field_names(*groups: Iterable[str]) -> tuple[str, ...]:
    """The union of several lists of field names, lower-cased, in first-seen order."""
    merged: list[str] = []
    for group in groups:
        for name in group:
            lowered = name.lower()
            if lowered not in merged:
                merged.append(lowered)
    return tuple(merged)


def normalise_field_value(field_lines: Sequence[str]) -> str:
    """One value for a request field that may have come as several lines or with odd spacing.

    Lines are combined with ", " and list members are trimmed, so ``"a,b"``, ``"a, b"`` and two
    lines ``a`` / ``b`` select the same stored variant (RFC 9111 §4.1 permits this normalisation).
    """
    if len(field_lines) == 1:
        value = field_lines[0]
        if "," not in value and value == value.strip():
            return value
    members = (member.strip() for line in field_lines for member in line.split(","))
    return ", ".join(member for member in members if member)
