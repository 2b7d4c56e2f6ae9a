"""Bounded memos: remembered results of pure functions, within a fixed amount of memory.

Keys here are request-controlled (header values, URLs) or as large as stored entries, so a memo
that kept everything could be grown without end by a client, or could keep a second copy of what
the storage holds outside its bounds. A ``BoundedMemo`` keeps at most ``max_entries`` results, for
keys of at most ``max_key_size`` characters or bytes (larger keys are computed every time), so it
holds at most about ``max_entries * max_key_size`` of keys plus their results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sized
from typing import Generic, TypeVar

__all__ = ["BoundedMemo"]

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
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # changed by another thread
                    del self[next(iter(self))]
            self[key] = result
        return result

    def __call__(self, key: Key) -> Result:
        result: Result | None = self.get(key)
        return result if result is not None else self.compute(key)
