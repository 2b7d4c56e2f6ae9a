"""Where the cache reads the time.

Two clocks, because they answer two questions: ``time`` (epoch seconds) is what HTTP speaks in
(``Date``, ``Age``, a stored response's age across processes), and ``monotonic`` measures
durations inside this process (waits, rests, in-process expiry), where a wall clock that steps
backwards or forwards must not matter. Tests pass a clock they can move instead of sleeping.
"""

from __future__ import annotations

import time as _time

__all__ = ["SYSTEM_CLOCK", "Clock"]


class Clock:
    """The system's clocks. Subclass it (or write any object with these two methods) to control time."""

    def time(self) -> float:
        """Wall-clock time, epoch seconds."""
        return _time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        return _time.monotonic()


class _SystemClock(Clock):
    # The built-in functions themselves: a hit reads the time, and a Python-level method in between
    # would cost a frame on every request.
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)


SYSTEM_CLOCK: Clock = _SystemClock()
