"""URI references in responses: which ones a write invalidates (RFC 9111 §4.4)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urljoin, urlsplit

__all__ = ["host_name", "same_origin_references"]


_DEFAULT_PORTS = (":80", ":443")


def host_name(host: str) -> str:
    """A host in one spelling: lower case, without a default port (``Example.COM:443`` is
    ``example.com``); RFC 9110 §4.2.3 makes those spellings one origin's (taking either default
    port as the default, since the scheme is not known here)."""
    name = host.strip().lower()
    if name.endswith(_DEFAULT_PORTS):
        name = name.rsplit(":", 1)[0]
    return name


def same_origin_references(host: str, request_path: str, references: Iterable[str]) -> list[tuple[str, str]]:
    """(path, query) of each reference that points at the request's own host.

    Relative references resolve against the request path. A reference to another host is left
    out: a cache must not invalidate it (RFC 9111 §4.4), or one origin could flush another's
    entries. Paths are percent-decoded, as the WSGI ``PATH_INFO`` they are compared with is.
    """
    base = f"http://{host}{request_path}"
    found: list[tuple[str, str]] = []
    for reference in references:
        reference = reference.strip()
        if not reference:
            continue
        try:
            parts = urlsplit(urljoin(base, reference))
        except ValueError:
            continue  # not a URI reference
        if host_name(parts.netloc) == host_name(host) and parts.path:
            found.append((unquote(parts.path), parts.query))
    return found
