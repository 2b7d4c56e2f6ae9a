"""Proactive negotiation fields (RFC 9110 §12.5): one key for requests that ask for the same thing.

``Accept``, ``Accept-Language``, ``Accept-Encoding`` and ``Accept-Charset`` are lists of members
with weights (``de-DE,de;q=0.9``). Two requests that ask for the same thing in different spellings
should share a stored variant: ``normalise`` gives each value one spelling. When a route says what
it produces (``cache_vary={"accept-language": ("en", "de")}``), ``select`` goes further and keys a
request by the value it would be given: browsers, curl and API clients then share a handful of
variants instead of one per spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ..common.memo import BoundedMemo

__all__ = ["NEGOTIATION_FIELDS", "NONE_MATCHED", "normalise", "select"]

NEGOTIATION_FIELDS = frozenset(("accept", "accept-language", "accept-encoding", "accept-charset"))
NONE_MATCHED = "\x00none matched"
"""The key of a request that accepts none of the values a route produces (never a header value)."""
MAX_MEMBERS = 64
"""Members beyond these are not read (a field is the client's: its work stays bounded)."""


class _Member(NamedTuple):
    value: str
    """The member without its weight, in one spelling."""
    weight: float


def _members(name: str, value: str) -> list[_Member]:
    """The members of a negotiation field, in the order they came (RFC 9110 §12.4.2 weights)."""
    members = []
    for part in value.split(",")[:MAX_MEMBERS]:
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        weight, parameters = 1.0, []
        for parameter in pieces[1:]:
            key, _, argument = parameter.partition("=")
            key = key.strip().lower()
            if key == "q":
                weight = _weight(argument.strip())
            elif key:
                parameters.append(f"{key}={argument.strip()}" if argument else key)
        lowered = pieces[0].lower()  # media ranges, language tags, codings and charsets ignore case
        members.append(_Member(";".join([lowered, *parameters]) if name == "accept" else lowered, weight))
    return members


def _weight(text: str) -> float:
    """A qvalue (``0`` to ``1``, up to three decimals); a malformed one counts as 1 (§12.4.2 has no
    rule, and ignoring it is what clients expect)."""
    try:
        weight = float(text)
    except ValueError:
        return 1.0
    return min(max(weight, 0.0), 1.0) if weight == weight else 1.0


def normalise(name: str, value: str | None) -> str | None:
    """``value`` of negotiation field ``name`` in one spelling: lower case, no spaces, members
    without weight 0, highest weight first (members of equal weight keep their order), ``q=1``
    left out. Other fields are returned as they are."""
    if value is None or name not in NEGOTIATION_FIELDS:
        return value
    key = (name, value)
    known = _SPELLINGS.get(key)
    return known if known is not None else _SPELLINGS.remember(key, _normalised(name, value), len(value))


_SPELLINGS: BoundedMemo[tuple[str, str], str] = BoundedMemo(None, 1024, 256)
"""The spellings of the negotiation values asked for lately: clients send a handful, on every
request (a hit never asks: its variant id is remembered whole; a new URL does)."""


def _normalised(name: str, value: str) -> str:
    members = [member for member in _members(name, value) if member.weight > 0]
    members.sort(key=lambda member: -member.weight)  # stable: equal weights keep the client's order
    return ",".join(
        member.value if member.weight == 1 else f"{member.value};q={member.weight:.3f}".rstrip("0").rstrip(".")
        for member in members
    )


def select(name: str, value: str | None, produced: Sequence[str]) -> str:
    """Which of ``produced`` a request with ``value`` of field ``name`` is given (RFC 9110 §12.5):
    the one the request weighs highest, the route's order breaking ties; ``NONE_MATCHED`` when it
    accepts none. A request without the field accepts anything: the first produced value."""
    if value is None:
        return produced[0]
    members = _members(name, value)
    best, best_weight = NONE_MATCHED, 0.0
    for candidate in produced:
        weight = _weight_of(name, candidate.lower(), members)
        if weight > best_weight:
            best, best_weight = candidate, weight
    return best


def _weight_of(name: str, candidate: str, members: list[_Member]) -> float:
    """The weight a request gives ``candidate``: that of the most specific member that matches it."""
    best_specificity, weight = -1, 0.0
    for member in members:
        specificity = _specificity(name, member.value.split(";", 1)[0], candidate)
        if specificity > best_specificity:
            best_specificity, weight = specificity, member.weight
    return weight


def _specificity(name: str, accepted: str, candidate: str) -> int:
    """How closely ``accepted`` (a member, without parameters) matches ``candidate``: -1 not at all."""
    if accepted == candidate:
        return 3
    if name == "accept":
        kind, _, _ = candidate.partition("/")
        if accepted == f"{kind}/*":
            return 1
        return 0 if accepted == "*/*" else -1
    # A language range matches a tag it prefixes ("de" for "de-AT"), and a tag that prefixes it
    # ("de-DE" for "de": RFC 4647 §3.4 lookup falls back from the range to its prefix).
    if name == "accept-language" and (candidate.startswith(accepted + "-") or accepted.startswith(candidate + "-")):
        return 2
    return 0 if accepted == "*" else -1
