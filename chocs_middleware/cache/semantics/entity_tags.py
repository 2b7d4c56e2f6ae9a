"""Entity tags (RFC 9110 §8.8.3): parsing lists, strong and weak comparison, generating one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..common.memo import BoundedMemo

__all__ = [
    "ANY",
    "MAX_FIELD_LENGTH",
    "MAX_MEMBERS",
    "EntityTag",
    "generate_entity_tag",
    "identified_for_update",
    "parse_entity_tag",
    "parse_entity_tag_list",
]

ANY = "*"
"""``If-Match: *`` / ``If-None-Match: *``: any current representation."""
MAX_FIELD_LENGTH = 8 * 1024
"""A longer ``If-Match`` / ``If-None-Match`` value is treated as malformed, so ignored (RFC 9110
§13.1): no client needs more, and parsing one must not cost a worker more than a few microseconds."""
MAX_MEMBERS = 64
"""Likewise for a list with more entity tags than this."""

# An entity-tag, or (leniently, because clients send back what they were given) a bare token
# such as the unquoted ``ETag: 1`` of the 1.0 README; then a comma or the end.
_MEMBER = re.compile(r'(?:(W/)?"([^"]*)"|([^\s,"]+))[ \t]*(?:,|\Z)')
_SEPARATORS = re.compile(r"[, \t]*")


@dataclass(frozen=True)
class EntityTag:
    opaque: str
    """The tag between the quotes."""
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'

    def strong_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: both strong and the same opaque tag (used by ``If-Match``)."""
        return not self.weak and not other.weak and self.opaque == other.opaque

    def weak_match(self, other: EntityTag) -> bool:
        """RFC 9110 §8.8.3.2: the same opaque tag, weak or not (used by ``If-None-Match``)."""
        return self.opaque == other.opaque


def parse_entity_tag(value: str) -> EntityTag | None:
    """One entity-tag (an ``ETag`` field value), or ``None`` when it is not one."""
    tags = parse_entity_tag_list(value)
    return tags[0] if isinstance(tags, tuple) and len(tags) == 1 else None


def parse_entity_tag_list(value: str) -> tuple[EntityTag, ...] | str | None:
    """An ``If-Match`` / ``If-None-Match`` value: ``ANY`` for ``*``, the tags, or ``None`` if malformed.

    Commas inside quotes belong to the tag (``"a,b"`` is one tag); empty list members and odd
    spacing are allowed (RFC 9110 §5.6.1). A value longer than ``MAX_FIELD_LENGTH`` or with more
    than ``MAX_MEMBERS`` tags is malformed. Results are memoised (clients send back the same few
    tags) in a bounded memo.
    """
    parsed = _TAG_LISTS.get(value)
    return parsed if parsed is not None else _TAG_LISTS.compute(value)


def _parse_list(value: str) -> tuple[EntityTag, ...] | str | None:
    """The parse itself, in one pass: every step consumes a separator or a whole member."""
    if len(value) > MAX_FIELD_LENGTH:
        return None
    if value.strip(" \t") == ANY:
        return ANY
    tags: list[EntityTag] = []
    position, end = 0, len(value)
    while position < end:
        position = _SEPARATORS.match(value, position).end()  # type: ignore[union-attr]  # always matches
        if position == end:
            break
        match = _MEMBER.match(value, position)
        if match is None or len(tags) == MAX_MEMBERS:
            return None
        weak, quoted, bare = match.groups()
        tags.append(EntityTag(quoted if bare is None else bare, weak=bool(weak)))
        position = match.end()
    return tuple(tags) if tags else None


_TAG_LISTS: BoundedMemo[str, tuple[EntityTag, ...] | str | None] = BoundedMemo(_parse_list, 1024, 512)


def identified_for_update(offered: Sequence[str | None], validator: str | None) -> int | None:
    """Which of the stored responses offered for validation, by their ``ETag`` values (newest
    first), a 304 whose ``ETag`` is ``validator`` confirms (RFC 9111 §4.3.4); ``None`` for none.

    A strong tag confirms the stored response with the same strong tag, a weak one the newest
    whose tag compares weakly. A 304 without an entity tag confirms the one response offered when
    only one was (RFC 9111 asks for that one to have no tag either; a handler that answers a
    conditional request with a bare 304 means the response it was asked about). With several
    offered, such a 304 identifies none, and none may be used.
    """
    if validator is None:
        return 0 if len(offered) == 1 else None
    confirmed = parse_entity_tag(validator)
    if confirmed is None:
        return None
    for position, value in enumerate(offered):
        stored = parse_entity_tag(value) if value else None
        if stored is not None and (stored.weak_match(confirmed) if confirmed.weak else stored.strong_match(confirmed)):
            return position
    return None


def generate_entity_tag(body: bytes) -> str:
    """A strong ``ETag`` derived from the body bytes: the same body gives the same tag everywhere.
    The last body's is remembered: a response stored is tagged, then checked when it is encoded."""
    global _last_tagged
    last = _last_tagged  # one tuple, read and replaced whole
    if last[0] is body:
        return last[1]
    tag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
    _last_tagged = (body, tag)
    return tag


_last_tagged: tuple[bytes | None, str] = (None, "")
