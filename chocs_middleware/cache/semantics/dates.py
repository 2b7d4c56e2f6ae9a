"""HTTP-date (RFC 9110 §5.6.7), through the standard library's ``email.utils``."""

from __future__ import annotations

import email.utils
from datetime import datetime

from ..memo import BoundedMemo

__all__ = ["format_http_date", "parse_http_date"]

MAX_DATE_LENGTH = 64
"""An HTTP-date is 29 characters; anything much longer is not one (and is not parsed)."""


def format_http_date(timestamp: float) -> str:
    """``timestamp`` (epoch seconds) as an IMF-fixdate: ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date in any of the three RFC 9110 formats, or ``None``.

    IMF-fixdate, the obsolete RFC 850 form (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime
    (``Sun Nov  6 08:49:37 1994``) are accepted; anything else, including a value with no time
    of day, is invalid and reported as ``None`` so that callers treat the field as absent.
    Results are memoised: a resource's ``Last-Modified`` and its clients' dates repeat.
    """
    parsed = _DATES.get(value)
    return parsed if parsed is not None else _DATES.compute(value)


def _parse(value: str) -> float | None:
    if len(value) > MAX_DATE_LENGTH:
        return None
    try:
        parsed = email.utils.parsedate_tz(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or (parsed[3:6] == (0, 0, 0) and ":" not in value):
        return None
    year, month, day, hour, minute, second = parsed[:6]
    try:
        # email.utils rolls impossible fields over (day 99 of November is in February); refuse them.
        datetime(year, month, day, hour, minute, min(second, 59))
        return float(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


_DATES: BoundedMemo[str, float | None] = BoundedMemo(_parse, 1024, MAX_DATE_LENGTH)
