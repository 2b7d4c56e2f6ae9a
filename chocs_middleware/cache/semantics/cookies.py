"""The request's ``Cookie`` field as pairs (RFC 6265 §5.4), read as the framework reads it.

Observed keying keys a response on the cookies its handler read (``decisions/observed.py``): on
their values *as sent*, so two requests whose cookies the framework would parse to different
values never share a key (they differ as sent too).
"""

from __future__ import annotations

__all__ = ["cookie_header", "cookie_pairs", "cookie_value"]


def cookie_header(lines: list[str] | None) -> str | None:
    """The ``Cookie`` field as chocs reads its cookies from it: one line as it is, several as
    ``str()`` of their list (what ``HttpHeaders.get`` returns for them); ``None`` when absent."""
    if lines is None:
        return None
    return lines[0] if len(lines) == 1 else str(lines)


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    """Each ``name=value`` of ``header`` in order, both trimmed; pieces without ``=`` are skipped
    (chocs skips them too)."""
    pairs = []
    for piece in header.split(";"):
        name, separator, value = piece.partition("=")
        if separator:
            pairs.append((name.strip(), value.strip()))
    return pairs


def cookie_value(header: str | None, name: str) -> str | None:
    """Every value sent for cookie ``name`` (joined with ``;``, as more than one may come: the
    framework keeps the last); ``None`` when it was not sent."""
    if header is None or name not in header:
        return None
    values = [value for found, value in cookie_pairs(header) if found == name]
    return ";".join(values) if values else None
