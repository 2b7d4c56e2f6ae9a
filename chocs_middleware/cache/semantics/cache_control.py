"""The ``Cache-Control`` field (RFC 9111 §5.2): a small parser and the directives we act on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import http_sf

from ..common.memo import BoundedMemo

__all__ = ["CacheControl", "parse_cache_control", "parse_targeted_cache_control"]

MAX_DELTA_SECONDS = 2_147_483_648
"""RFC 9111 §1.2.2: a larger delta-seconds value counts as this one."""
MAX_LINE_LENGTH = 8 * 1024
"""A longer ``Cache-Control`` line is malformed, so ignored: parsing must stay cheap."""

# A directive: a token, optionally "=" and a token or a quoted-string; then a comma or the end.
_DIRECTIVE = re.compile(
    r"""[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*(?:=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^,\s"]*)))?[ \t]*(?:,|\Z)"""
)


@dataclass(frozen=True)
class CacheControl:
    """The directives of one or more ``Cache-Control`` lines, names lower-cased.

    ``directives`` maps each name to its argument (``None`` when it has none). A directive
    given twice with different arguments maps to ``CONFLICT``; delta-seconds directives read it
    as invalid, which makes the response stale (RFC 9111 §4.2.1).
    """

    directives: dict[str, str | None] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.directives

    def seconds(self, name: str) -> int | None:
        """A delta-seconds argument (``max-age=60``); 0 when present but invalid, ``None`` when absent."""
        if name not in self.directives:
            return None
        value = self.directives[name]
        if value is None or not value.isdigit():
            return 0  # invalid freshness information: treat as stale (RFC 9111 §4.2.1)
        return min(int(value), MAX_DELTA_SECONDS)

    @property
    def no_store(self) -> bool:
        return "no-store" in self.directives

    @property
    def no_cache(self) -> bool:
        """``no-cache``, with or without field names: never reuse without validation."""
        return "no-cache" in self.directives

    @property
    def private(self) -> bool:
        """``private``, with or without field names (the whole response is then treated as private)."""
        return "private" in self.directives

    @property
    def public(self) -> bool:
        return "public" in self.directives


CONFLICT = "\x00conflicting values"
"""The argument of a directive that appeared twice with different arguments."""


_NUMERIC_DIRECTIVES = frozenset(("max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"))


def parse_targeted_cache_control(field_lines: Sequence[str]) -> CacheControl | None:
    """A targeted cache-control field (RFC 9213, e.g. ``CDN-Cache-Control``) as directives, or
    ``None`` when it is not a valid Structured Fields Dictionary (RFC 9651): then it is ignored.

    Its directives mean what they mean in ``Cache-Control``. A directive whose value has the wrong
    type (``max-age="60"``, a negative number) is ignored, as are parameters.
    """
    if sum(map(len, field_lines)) > MAX_LINE_LENGTH:
        return None
    try:
        parsed = http_sf.parse(", ".join(field_lines).encode("latin-1"), tltype="dictionary")
    except Exception:  # http-sf's parse errors differ between its versions; any is "not valid"
        return None
    if not isinstance(parsed, dict):  # pragma: no cover - a dictionary was asked for
        return None
    members: dict[str, Any] = parsed
    directives: dict[str, str | None] = {}
    for name, (value, _parameters) in members.items():
        if name in _NUMERIC_DIRECTIVES:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                directives[name] = str(min(value, MAX_DELTA_SECONDS))
        elif value is True or name not in _FLAG_DIRECTIVES:
            directives[name] = None if value is True else str(value)
    return CacheControl(directives)


_FLAG_DIRECTIVES = frozenset(
    ("no-store", "no-cache", "private", "public", "must-revalidate", "proxy-revalidate", "must-understand")
)


def parse_cache_control(field_lines: Iterable[str]) -> CacheControl:
    """Directives of all ``Cache-Control`` lines. Malformed members are skipped, never fatal."""
    directives: dict[str, str | None] = {}
    for line in field_lines:
        parsed = _LINES.get(line)
        for name, argument in parsed if parsed is not None else _LINES.compute(line):
            if name in directives and directives[name] != argument:
                directives[name] = CONFLICT
            else:
                directives[name] = argument
    return CacheControl(directives)


def _parse_line(line: str) -> tuple[tuple[str, str | None], ...]:
    """The directives of one line, in one pass (each step consumes a member or skips past a comma)."""
    if len(line) > MAX_LINE_LENGTH:
        return ()
    found: list[tuple[str, str | None]] = []
    position = 0
    while position < len(line):
        match = _DIRECTIVE.match(line, position)
        if match is None:  # skip the malformed member up to the next comma outside quotes
            position = _after_next_comma(line, position)
            continue
        name, quoted, bare = match.groups()
        argument = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        found.append((name.lower(), argument))
        position = match.end()
    return tuple(found)


def _after_next_comma(line: str, position: int) -> int:
    in_quotes = False
    while position < len(line):
        character = line[position]
        if character == '"':
            in_quotes = not in_quotes
        elif character == "," and not in_quotes:
            return position + 1
        position += 1
    return position


_LINES: BoundedMemo[str, tuple[tuple[str, str | None], ...]] = BoundedMemo(_parse_line, 512, 1024)
