"""The ``Cache-Status`` response header (RFC 9211): what the cache did, recorded then rendered once.

The request flow notes each event on a ``Trace`` as it happens (why it went to the handler,
what the handler answered, whether the answer was stored, ...); the header is rendered from the
trace when the response leaves the cache. A fresh hit needs no trace: ``hit`` renders it.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["CACHE_NAME", "Trace", "hit", "render"]

CACHE_NAME = "chocs-cache"


class Trace:
    """What happened to one request that the cache did not answer as a plain fresh hit."""

    __slots__ = ("collapsed", "detail", "fwd", "fwd_status", "hit", "key", "stored", "ttl")

    def __init__(self, fwd: str | None = None) -> None:
        self.hit = False
        """Answered from storage without the handler."""
        self.fwd = fwd
        """RFC 9211 §2.2 ``fwd``: why the request went to the handler (``uri-miss``, ``vary-miss``,
        ``stale``, ``request``, ``method``)."""
        self.fwd_status: int | None = None
        """What the handler answered."""
        self.stored = False
        self.collapsed = False
        """The request waited for another one's answer and was given it."""
        self.ttl: int | None = None
        """Freshness left in seconds; negative when a stale response is served."""
        self.detail: str | None = None
        """Why it was not stored, or the special case it was (``stale-if-error``, ...)."""
        self.key: str | None = None
        """RFC 9211 §2.7 ``key``: the inputs the stored response is keyed on (``debug=True``)."""

    def render(self) -> str:
        return render(self.hit, self.fwd, self.fwd_status, self.ttl, self.stored, self.collapsed, self.detail, self.key)


def render(
    is_hit: bool,
    fwd: str | None,
    fwd_status: int | None,
    ttl: int | None,
    stored: bool,
    collapsed: bool,
    detail: str | None,
    key: str | None = None,
) -> str:
    """The header value, its parameters in RFC 9211's order."""
    parts = [CACHE_NAME]
    if is_hit:
        parts.append("hit")
    if fwd is not None:
        parts.append(f"fwd={fwd}")
    if fwd_status is not None:
        parts.append(f"fwd-status={fwd_status}")
    if ttl is not None:
        parts.append(f"ttl={ttl}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if key is not None:
        parts.append(f"key={_sf_string(key)}")
    if detail:
        parts.append(f"detail={detail}")
    return "; ".join(parts)


def _sf_string(text: str) -> str:
    """``text`` as a Structured Fields String (RFC 8941 §3.3.3): printable ASCII, quoted; other
    characters (a client's names may hold any) become ``?``."""
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=4096)
def hit(ttl: int, detail: str | None = None) -> str:
    """A fresh hit with ``ttl`` seconds of freshness left (memoised: hits ask for the same few values)."""
    return render(True, None, None, ttl, False, False, detail)
