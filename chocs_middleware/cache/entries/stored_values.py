"""Strict readers of stored metadata values (``serialisation.py``): each returns the value when it
is one the encoder could have written, and raises ``TypeError`` or ``ValueError`` otherwise,
because whoever can write to a shared storage could plant an entry."""

from __future__ import annotations

from typing import Any, TypeVar

from ..semantics.cache_control import MAX_DELTA_SECONDS
from ..semantics.vary import is_field_name, is_sendable_field_value

MAX_HEADER_FIELDS = 256
MAX_ID_LENGTH = 64
MAX_SECONDS = MAX_DELTA_SECONDS
MAX_EPOCH_SECONDS = 32_503_680_000  # the year 3000
NEVER_REPLAYED_FIELDS = frozenset(("set-cookie", "age", "cache-status"))
"""A stored response never carries these: someone's session, and what is made for each response."""
_Sized = TypeVar("_Sized", list[Any], dict[str, Any])


def text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def status(value: object) -> int:
    code = whole(value)
    if not 100 <= code <= 599:
        raise ValueError(f"status {code} is not an HTTP status")
    return code


def seconds(value: object) -> int:
    number = whole(value)
    if not 0 <= number <= MAX_SECONDS:
        raise ValueError(f"{number} is not a number of seconds a response is kept")
    return number


def epoch_time(value: object) -> float:
    """Epoch seconds: finite, and not before 1970 nor in a future no clock reaches."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not 0 <= value <= MAX_EPOCH_SECONDS:  # also false for NaN
        raise ValueError(f"{value!r} is not a time")
    return float(value)


def generation(value: object) -> str:
    checked = text(value)
    if len(checked) > MAX_ID_LENGTH:
        raise ValueError("generation too long")
    return checked


def item_id(value: object) -> str:
    checked = text(value)
    if not 0 < len(checked) <= MAX_ID_LENGTH:
        raise ValueError("variant id of the wrong length")
    return checked


def field_name(value: object) -> str:
    name = text(value)
    if not is_field_name(name) or name != name.lower():
        raise ValueError(f"{name!r} is not a lower-case field name")
    if name in NEVER_REPLAYED_FIELDS:
        raise ValueError(f"a stored response never carries {name}")
    return name


def field_values(values: object) -> tuple[str, ...]:
    result = tuple(text(value) for value in at_most(listed(values), MAX_HEADER_FIELDS, "values"))
    for value in result:
        if not is_sendable_field_value(value):
            raise ValueError("a field value that cannot be sent (control characters or not latin-1)")
    return result


def at_most(values: _Sized, limit: int, what: str) -> _Sized:
    if len(values) > limit:
        raise ValueError(f"more than {limit} {what}")
    return values


def flag(value: object) -> bool:
    if value not in (0, 1) or isinstance(value, float):
        raise TypeError(f"expected 0 or 1, got {value!r}")
    return bool(value)


def mapping(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def listed(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value
