"""Entity tags (RFC 9110 §8.8.3): parsing lists, strong and weak comparison, generating one."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ANY", "EntityTag", "generate_entity_tag", "parse_entity_tag", "parse_entity_tag_list"]

ANY = "*"
"""``If-Match: *`` / ``If-None-Match: *``: any current representation."""

# An entity-tag, or (leniently, because clients send back what they were given) a bare token
# such as the unquoted ``ETag: 1`` of the 1.0 README; then a comma or the end.
_MEMBER = re.compile(r'[ \t]*(?:(W/)?"([^"]*)"|([^\s,"]+))[ \t]*(?:,|\Z)')


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


# Parsers are memoised: clients send back the same few tags, and results are immutable.
@lru_cache(maxsize=1024)
def parse_entity_tag(value: str) -> EntityTag | None:
    """One entity-tag (an ``ETag`` field value), or ``None`` when it is not one."""
    tags = parse_entity_tag_list(value)
    return tags[0] if isinstance(tags, tuple) and len(tags) == 1 else None


@lru_cache(maxsize=1024)
def parse_entity_tag_list(value: str) -> tuple[EntityTag, ...] | str | None:
    """An ``If-Match`` / ``If-None-Match`` value: ``ANY`` for ``*``, the tags, or ``None`` if malformed.

    Commas inside quotes belong to the tag (``"a,b"`` is one tag); empty list members and odd
    spacing are allowed (RFC 9110 §5.6.1).
    """
    stripped = value.strip(" \t")
    if stripped == ANY:
        return ANY
    tags: list[EntityTag] = []
    position = 0
    while position < len(value):
        if value[position:].strip(" \t,") == "":
            break
        match = _MEMBER.match(value, position)
        if match is None:
            if value[position] in ", \t":
                position += 1
                continue
            return None
        weak, quoted, bare = match.groups()
        tags.append(EntityTag(quoted if bare is None else bare, weak=bool(weak)))
        position = match.end()
    return tuple(tags) if tags else None


def generate_entity_tag(body: bytes) -> str:
    """A strong ``ETag`` derived from the body bytes: the same body gives the same tag everywhere."""
    return f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
