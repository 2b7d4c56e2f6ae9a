"""What the in-memory storage keeps of cache groups (``IGroupCacheStorage``; docs/design.md,
"Storage model"): which items each group lists, and when groups were invalidated. The storage's
lock is held for every call."""

from __future__ import annotations

import math
from collections.abc import Container, Sequence

__all__ = ["MARK_FOOTPRINT", "Invalidations", "Listings"]

MARK_FOOTPRINT = 64
"""Bytes a remembered group invalidation counts for, besides its id."""


class Listings:
    """The members of each group, each with when it stops being listed (monotonic seconds), and
    for each item the groups that list it, so that an item leaving the storage leaves its groups:
    the lists are bounded with the storage. Members that are not items (the group of hosts) are
    bounded apart: the most recently listed are kept."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, float]] = {}
        """Group id: its members, each with when it stops being listed."""
        self.listed_in: dict[str, list[str]] = {}
        """Item id: the groups it is listed in."""

    def add(self, group: str, member: str, until: float, items: Container[str], limit: int) -> None:
        """List ``member`` in ``group`` until ``until``; a member not in ``items`` (a host) is one
        of at most ``limit`` such in the group."""
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = {}
        elif member in members:
            del members[member]  # listed again: moved last, as the most recently stored
        members[member] = until
        if member in items:
            listed_in = self.listed_in.setdefault(member, [])
            if group not in listed_in:
                listed_in.append(group)
        elif len(members) > limit:
            del members[next(iter(members))]

    def members(self, group: str, now: float) -> list[str]:
        """The members of ``group`` still listed at ``now``."""
        return [member for member, until in self.groups.get(group, {}).items() if until >= now]

    def take(self, group: str) -> dict[str, float]:
        """The members of ``group``, which lists none from now on."""
        return self.groups.pop(group, {})

    def leave(self, item_id: str) -> None:
        """The item left the storage: it leaves its groups, and a group left empty goes."""
        if self.listed_in:
            for group in self.listed_in.pop(item_id, ()):
                members = self.groups.get(group)
                if members is not None:
                    members.pop(item_id, None)
                    if not members:
                        del self.groups[group]

    def clear(self) -> None:
        self.groups.clear()
        self.listed_in.clear()


class Invalidations:
    """When groups were last invalidated, and until when that is kept (monotonic seconds), the
    newest last; and when everything was last removed. A store computed before one of them that
    concerns it is refused (``since``)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}
        """Group id: (when it was last invalidated, until when that is kept), oldest first."""
        self._forgotten = -math.inf
        """The latest invalidation forgotten to keep within the bound: stores computed before it are refused."""
        self._removed_all: tuple[float, float] = (-math.inf, math.inf)
        """When everything was last removed, and until when that is kept."""

    def remember(self, group: str, now: float, kept_until: float, limit: int) -> int:
        """Remember that ``group`` was invalidated ``now``, at most ``limit`` groups (the oldest,
        or those no longer kept, are forgotten first). Returns how many bytes the marks take
        more than before (``MARK_FOOTPRINT`` and the id each; less when some were forgotten)."""
        marks, grown = self.marks, 0
        if marks.pop(group, None) is None:
            grown += MARK_FOOTPRINT + len(group)
        marks[group] = (now, kept_until)
        while len(marks) > limit:
            forgotten, (at, until) = next(iter(marks.items()))
            del marks[forgotten]
            grown -= MARK_FOOTPRINT + len(forgotten)
            if until >= now:
                self._forgotten = max(self._forgotten, at)
        return grown

    def removed_all(self, now: float, kept_until: float) -> None:
        self._removed_all = (now, kept_until)

    def since(self, checked: Sequence[str], since: float, now: float) -> bool:
        """Whether one of the ``checked`` groups, or everything, was invalidated at or after ``since``
        (or an invalidation forgotten since may have been of one of them)."""
        removed_at, removal_kept_until = self._removed_all
        if removed_at >= since and removal_kept_until >= now:
            return True
        if self._forgotten >= since:
            return True
        for group in checked:
            mark = self.marks.get(group)
            if mark is not None and mark[0] >= since and mark[1] >= now:
                return True
        return False

    @property
    def footprint(self) -> int:
        """The bytes the marks count for."""
        return sum(MARK_FOOTPRINT + len(group) for group in self.marks)
