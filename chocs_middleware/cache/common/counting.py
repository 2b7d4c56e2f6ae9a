"""A counter that request threads add to without a lock."""

from __future__ import annotations

import itertools

__all__ = ["Tally"]


class Tally:
    """A count that threads add one to without a lock: ``next()`` on an ``itertools.count`` is one
    C call, atomic under the GIL. Its ``value`` is read from the count's ``repr`` ("count(N)"),
    which does not add one (reading a copy works too, but copying it is deprecated from 3.13)."""

    __slots__ = ("_count", "add")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.add = self._count.__next__

    @property
    def value(self) -> int:
        return int(repr(self._count)[len("count(") : -1])
