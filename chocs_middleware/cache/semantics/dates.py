"""HTTP-date (RFC 9110 §5.6.7): the three formats a recipient accepts, and nothing else."""

from __future__ import annotations

import calendar
import email.utils
import math
import re
import time
from datetime import datetime

from ..common.memo import BoundedMemo

__all__ = ["format_http_date", "parse_http_date"]

MAX_DATE_LENGTH = 64
"""An HTTP-date is 29 characters; anything much longer is not one (and is not parsed)."""

_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"(\d\d):(\d\d):(\d\d)"
# Names are matched without regard to case (clients and servers get it wrong, and the meaning is
# plain); everything else exactly: one space, two-digit day and time fields, GMT.
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} gmt\Z", re.IGNORECASE)
_RFC_850 = re.compile(rf"{_LONG_DAY}, (\d\d)-{_MONTH}-(\d\d) {_TIME} gmt\Z", re.IGNORECASE)
_ASCTIME = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})\Z", re.IGNORECASE)


def format_http_date(timestamp: float) -> str:
    """``timestamp`` (epoch seconds) as an IMF-fixdate: ``Sun, 06 Nov 1994 08:49:37 GMT``.
    The last second's is remembered: every response stored in one second asks for it."""
    global _last_formatted
    second = math.floor(timestamp)
    last = _last_formatted  # one tuple, read and replaced whole: threads always see a matching pair
    if last[0] == second:
        return last[1]
    formatted = email.utils.formatdate(second, usegmt=True)
    _last_formatted = (second, formatted)
    return formatted


_last_formatted: tuple[int | None, str] = (None, "")


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date, or ``None`` when ``value`` is not one.

    IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), the obsolete RFC 850 form (``Sunday,
    06-Nov-94 08:49:37 GMT``, whose two-digit year more than 50 years ahead means the past
    century) and asctime (``Sun Nov  6 08:49:37 1994``). Anything else is invalid (another time
    zone, a two-digit year or dashes in an IMF-fixdate, extra spaces, a one-digit hour) and
    callers treat the field as absent, or ``Expires`` as already expired. Results are memoised:
    a resource's ``Last-Modified`` and its clients' dates repeat.
    """
    parsed = _DATES.get(value)
    return parsed if parsed is not None else _DATES.compute(value)


def _parse(value: str) -> float | None:
    if len(value) > MAX_DATE_LENGTH:
        return None
    value = value.strip(" \t")
    match = _IMF_FIXDATE.match(value)
    if match:
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, int(day), int(hour), int(minute), int(second))
    match = _RFC_850.match(value)
    if match:
        day, month, short_year, hour, minute, second = match.groups()
        return _timestamp(_full_year(int(short_year)), month, int(day), int(hour), int(minute), int(second))
    match = _ASCTIME.match(value)
    if match:
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, int(day), int(hour), int(minute), int(second))
    return None


def _full_year(two_digits: int) -> int:
    """RFC 9110 §5.6.7: a year more than 50 years in the future is the most recent past one."""
    this_year = time.gmtime().tm_year
    year = this_year - this_year % 100 + two_digits
    return year - 100 if year > this_year + 50 else year


def _timestamp(year: int, month: str, day: int, hour: int, minute: int, second: int) -> float | None:
    try:
        moment = datetime(year, _MONTHS.index(month.lower()) + 1, day, hour, minute, min(second, 59))
    except ValueError:  # a day, hour or minute that does not exist
        return None
    return float(calendar.timegm(moment.timetuple()))


_DATES: BoundedMemo[str, float | None] = BoundedMemo(_parse, 1024, MAX_DATE_LENGTH)
