"""The one way options and keywords are checked: a clear error that says where and what to write."""

from __future__ import annotations

__all__ = ["check_flag", "check_number"]


def check_number(value: object, where: str, *, unit: str, whole: bool, minimum: float, above: bool = False) -> float:
    """``value`` as a number of ``unit``, or a ``TypeError``/``ValueError`` that starts with ``where``.

    ``whole`` refuses fractions (a whole float such as ``10.0`` is accepted); the value must be at
    least ``minimum``, or more than it with ``above``. ``True`` and ``False`` are not numbers here.
    """
    kind = f"a whole number of {unit}" if whole else f"a number of {unit}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be {kind}, got {value!r} ({type(value).__name__})")
    if whole and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{where} must be whole {unit}, got {value}")
        value = int(value)
    if value != value or (above and value <= minimum) or (not above and value < minimum):
        bound = f"more than {minimum:g}" if above else f"{minimum:g} or more"
        raise ValueError(f"{where} must be {bound} {unit}, got {value}")
    return value


def check_flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be True or False, got {value!r}")
    return value
