"""Bounded memos: remembered results of pure functions, within a fixed amount of memory.

Keys here are request-controlled (header values, URLs) or as large as stored entries, so a memo
that kept everything could be grown without end by a client, or could keep a second copy of what
the storage holds outside its bounds. A ``BoundedMemo`` keeps at most ``max_entries`` results, for
keys of at most ``max_key_size`` characters or bytes (larger keys are computed every time), so it
holds at most about ``max_entries * max_key_size`` of keys plus their results.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sized
from typing import Any, Generic, TypeVar, overload

__all__ = ["BoundedMemo", "worked_out_once"]

Key = TypeVar("Key", bound=Sized)
Result = TypeVar("Result")


class BoundedMemo(dict, Generic[Key, Result]):  # type: ignore[type-arg]  # keys: Key, or tuples via remember
    """A dict of results: callers on a hot path use ``get`` (C speed), and ``compute`` on a miss.

    When full, the oldest result goes. Thread-safe for its use: each dict operation is atomic.
    """

    def __init__(self, function: Callable[[Key], Result] | None, max_entries: int, max_key_size: int) -> None:
        super().__init__()
        self.function = function
        self.max_entries = max_entries
        self.max_key_size = max_key_size

    def compute(self, key: Key) -> Result:
        """The function's result for ``key``, remembered when ``key`` is small enough."""
        assert self.function is not None
        return self.remember(key, self.function(key), len(key))

    def remember(self, key: object, result: Result, size: int) -> Result:
        """Keep ``result`` for ``key`` when its ``size`` is within the bound; returns ``result``.
        ``None`` is not kept (``get`` could not tell it from a miss)."""
        if result is not None and size <= self.max_key_size:
            if len(self) >= self.max_entries:
                self._forget_oldest()
            self[key] = result
        return result

    def _forget_oldest(self) -> None:
        """Make room: the oldest quarter goes at once. One at a time, each would cost a scan over
        the slots the ones before it left at the front of the dict (until it is next rebuilt):
        ~2 us per new key on a full memo of 4,096, every miss on a new URL."""
        with contextlib.suppress(KeyError, RuntimeError):  # changed by another thread meanwhile
            for key in list(itertools.islice(self, max(1, self.max_entries // 4))):
                self.pop(key, None)

    def __call__(self, key: Key) -> Result:
        result: Result | None = self.get(key)
        return result if result is not None else self.compute(key)


class worked_out_once(Generic[Result]):
    """A property worked out on first use and then kept in the instance's ``__dict__`` (which a
    frozen dataclass allows: it is set as the dataclass's own ``__init__`` sets fields).

    ``functools.cached_property`` does the same, but before Python 3.12 takes a lock on every
    first use: a miss pays that for each of a stored response's worked-out properties."""

    def __init__(self, function: Callable[[Any], Result]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> worked_out_once[Result]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> Result: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> worked_out_once[Result] | Result:
        if instance is None:
            return self
        value = self.function(instance)
        instance.__dict__[self.name] = value
        return value
