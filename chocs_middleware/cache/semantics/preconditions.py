"""Conditional requests (RFC 9110 §13): which precondition holds, in the §13.2.2 order."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from .dates import parse_http_date
from .entity_tags import ANY, EntityTag, parse_entity_tag, parse_entity_tag_list

__all__ = ["NOT_MODIFIED_FIELDS", "Conditions", "Outcome", "Verdict", "evaluate", "evaluate_representation"]

NOT_MODIFIED_FIELDS = frozenset(
    ("cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified")
)
"""What a 304 carries of the full response (RFC 9110 §15.4.5); ``Last-Modified`` because it is a
validator too. Other representation metadata (``Content-Type``, ``Content-Length``) is left out."""


class Outcome(Enum):
    PROCEED = "proceed"
    NOT_MODIFIED = "not-modified"
    """304 for ``GET``/``HEAD``."""
    PRECONDITION_FAILED = "precondition-failed"
    """412."""


class Conditions(NamedTuple):
    """The request's precondition fields, as sent (``None`` when absent)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


class Verdict(NamedTuple):
    outcome: Outcome
    decided_by: str = ""
    """The field that decided a 412 or 304 (``If-Match``, ...)."""


PROCEED = Verdict(Outcome.PROCEED)
_IF_MATCH_FAILED = Verdict(Outcome.PRECONDITION_FAILED, "If-Match")
_IF_UNMODIFIED_SINCE_FAILED = Verdict(Outcome.PRECONDITION_FAILED, "If-Unmodified-Since")
_IF_NONE_MATCH_MATCHED = Verdict(Outcome.NOT_MODIFIED, "If-None-Match")
_IF_NONE_MATCH_FAILED = Verdict(Outcome.PRECONDITION_FAILED, "If-None-Match")
_NOT_MODIFIED_SINCE = Verdict(Outcome.NOT_MODIFIED, "If-Modified-Since")


def evaluate(conditions: Conditions, safe: bool, etag: str | None, last_modified: str | None) -> Verdict:
    """Evaluate ``conditions`` against the selected representation's validators.

    ``safe`` is True for ``GET``/``HEAD``. ``etag`` and ``last_modified`` are the
    representation's ``ETag`` and ``Last-Modified`` values (``None`` when it has none). A field
    whose value is malformed is treated as absent (RFC 9110 §13.1). Validators are parsed only
    when a step needs them.
    """
    if_match = None if conditions.if_match is None else parse_entity_tag_list(conditions.if_match)
    if_none_match = None if conditions.if_none_match is None else parse_entity_tag_list(conditions.if_none_match)

    # Step 1, else step 2 (RFC 9110 §13.2.2).
    if if_match is not None:
        if not _matches(if_match, etag, strong=True):
            return _IF_MATCH_FAILED
    elif conditions.if_unmodified_since is not None:
        since = parse_http_date(conditions.if_unmodified_since)
        modified = parse_http_date(last_modified) if last_modified else None
        if since is not None and modified is not None and modified > since:
            return _IF_UNMODIFIED_SINCE_FAILED

    # Step 3, else step 4 (which applies to GET and HEAD only).
    if if_none_match is not None:
        if _matches(if_none_match, etag, strong=False):
            return _IF_NONE_MATCH_MATCHED if safe else _IF_NONE_MATCH_FAILED
    elif safe and conditions.if_modified_since is not None:
        since = parse_http_date(conditions.if_modified_since)
        modified = parse_http_date(last_modified) if last_modified else None
        if since is not None and modified is not None and modified <= since:
            return _NOT_MODIFIED_SINCE
    return PROCEED


def evaluate_representation(
    conditions: Conditions, safe: bool, status: int, etag: str | None, last_modified: str | None
) -> Verdict:
    """``evaluate`` for a response with ``status``: preconditions apply to a 2xx representation
    only (RFC 9110 §13.2.1); any other status proceeds."""
    if not 200 <= status < 300:
        return PROCEED
    return evaluate(conditions, safe, etag, last_modified)


def _matches(tags: tuple[EntityTag, ...] | str, etag: str | None, strong: bool) -> bool:
    """``*`` matches any current representation; a list matches when one of its tags does."""
    if tags == ANY:
        return True
    current = parse_entity_tag(etag) if etag else None
    if current is None or isinstance(tags, str):
        return False
    for tag in tags:  # noqa: SIM110 - any() over a generator costs ~0.5 µs on every conditional request
        if current.strong_match(tag) if strong else current.weak_match(tag):
            return True
    return False
