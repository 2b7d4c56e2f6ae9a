"""Cache groups (RFC 9875): the ``Cache-Groups`` and ``Cache-Group-Invalidation`` response fields.

Both are Structured Fields Lists of Strings (RFC 9651). A group is an opaque, case-sensitive
string, scoped to the origin of the response that names it (§2.1). ``Cache-Group-Invalidation``
counts only on a response to an unsafe method (§3); the caller checks that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import http_sf

__all__ = ["CACHE_GROUPS", "CACHE_GROUP_INVALIDATION", "ParsedGroups", "parse_groups"]

CACHE_GROUPS = "cache-groups"
CACHE_GROUP_INVALIDATION = "cache-group-invalidation"
MAX_FIELD_LENGTH = 64 * 1024
"""Longer fields are not parsed (the app's own, but a bound keeps the work linear and small)."""


class ParsedGroups(NamedTuple):
    """The groups a field names, and whether it had to be (partly) ignored."""

    groups: tuple[str, ...]
    """The String members, in order, each once."""
    problem: str | None = None
    """Why (part of) the field was ignored: not a valid List, or members that are not Strings."""


def parse_groups(field_lines: Sequence[str]) -> ParsedGroups:
    """The groups of a ``Cache-Groups`` or ``Cache-Group-Invalidation`` field (all its lines).

    A field that is not a valid List is ignored as a whole (RFC 9651 §4.2); members that are not
    Strings are ignored one by one, and parameters always are (RFC 9875 §2).
    """
    if not field_lines:
        return ParsedGroups(())
    joined = ", ".join(field_lines)
    if len(joined) > MAX_FIELD_LENGTH:
        return ParsedGroups((), f"longer than {MAX_FIELD_LENGTH} characters")
    try:
        parsed = http_sf.parse(joined.encode("latin-1"), tltype="list")
    except Exception as error:  # http-sf's parse errors differ between its versions; any is "malformed"
        return ParsedGroups((), f"not a Structured Fields List of Strings ({error})")
    groups: dict[str, None] = {}  # each once, in order: a dict, so that de-duplicating stays linear
    ignored = 0
    members: list[Any] = parsed if isinstance(parsed, list) else []
    for value, _parameters in members:
        if isinstance(value, str):
            groups[value] = None
        else:
            ignored += 1  # a Token, a number, an Inner List...
    problem = f"{ignored} member(s) that are not Strings" if ignored else None
    return ParsedGroups(tuple(groups), problem)
