"""What a chocs handler reads of its request, recorded while it runs (observed keying,
``decisions/observed.py``; ``docs/caching.md``, "Observed keys").

``observe(request)`` hands the handler the same request with its headers, query string and
cookies replaced by recording views of the same values; ``give_back`` puts the originals back
when it returns. A read of one name records the name (a read of a missing one too: its absence shaped the
answer); anything that sees them all (iterating, copying, printing, comparing, counting) records
that every one was read. Only the caller that runs the handler pays for this: hits never do.

Not seen: what middleware placed before the cache read and handed on (``request.attributes``),
the WSGI environ, and private attributes (``request._headers``). A handler that reads through
those is keyed as declared (``cache_keying="declared"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import copy
from typing import Any

from chocs import HttpRequest
from chocs.http.http_cookies import HttpCookieJar, parse_cookie_header
from chocs.http.http_headers import HttpHeaders, _normalize_header_name
from chocs.http.http_query_string import HttpQueryString

from ...decisions.observed import NOTHING_READ, ReadInputs

__all__ = ["Recorder", "give_back", "observe"]


class Recorder:
    """The names read, by kind, until ``closed``: reads after the handler returned are the cache's own."""

    __slots__ = ("closed", "cookies", "every", "headers", "queries")

    def __init__(self) -> None:
        self.headers: set[str] = set()
        self.cookies: set[str] = set()
        self.queries: set[str] = set()
        self.every: set[str] = set()
        self.closed = False

    def read(self, kind: set[str], name: object) -> None:
        if not self.closed:
            kind.add(str(name))

    def read_all(self, kind: str) -> None:
        if not self.closed:
            self.every.add(kind)

    def inputs(self) -> ReadInputs:
        if not (self.headers or self.cookies or self.queries or self.every):
            return NOTHING_READ
        return ReadInputs(
            frozenset(self.headers),
            frozenset(self.cookies),
            frozenset(self.queries),
            "header" in self.every,
            "cookie" in self.every,
            "query" in self.every,
        )


class _Headers(HttpHeaders):
    """The request's headers (the same dict of lines), recording each name read."""

    _recorder: Recorder

    @classmethod
    def over(cls, headers: HttpHeaders, recorder: Recorder) -> _Headers:
        view = cls.__new__(cls)
        view._headers = headers._headers
        view._recorder = recorder
        return view

    def __getitem__(self, name: str) -> str | Any:
        self._recorder.read(self._recorder.headers, _normalize_header_name(name))
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self._recorder.read(self._recorder.headers, _normalize_header_name(str(name)))
        return super().__contains__(str(name))

    def get(self, name: str, default: str = "") -> Any:
        self._recorder.read(self._recorder.headers, _normalize_header_name(name))
        return super().get(name, default)

    def items(self) -> Any:
        self._recorder.read_all("header")
        return super().items()

    def values(self) -> Any:
        self._recorder.read_all("header")
        return super().values()

    def keys(self) -> Any:
        self._recorder.read_all("header")
        return super().keys()

    def __repr__(self) -> str:
        self._recorder.read_all("header")
        return super().__repr__()

    def __eq__(self, other: object) -> bool:
        self._recorder.read_all("header")
        return isinstance(other, HttpHeaders) and self._headers == other._headers

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> _Headers:
        copied = super().__copy__()
        return _Headers.over(copied, self._recorder)


class _Query(HttpQueryString):
    """The request's parsed query string, recording each parameter read."""

    _recorder: Recorder

    @classmethod
    def over(cls, query: HttpQueryString, recorder: Recorder) -> _Query:
        view = cls.__new__(cls)
        dict.update(view, dict.items(query))  # not through this view's own items(), which records
        view._str = query._str
        view._recorder = recorder
        return view

    def _all(self) -> None:
        self._recorder.read_all("query")

    def __getitem__(self, key: Any) -> Any:
        self._recorder.read(self._recorder.queries, key)
        return dict.get(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._recorder.read(self._recorder.queries, key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._recorder.read(self._recorder.queries, key)
        return dict.__contains__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        self._recorder.read(self._recorder.queries, key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._recorder.read(self._recorder.queries, key)
        return dict.setdefault(self, key, default)

    def keys(self) -> Any:
        self._all()
        return dict.keys(self)

    def values(self) -> Any:
        self._all()
        return dict.values(self)

    def items(self) -> Any:
        self._all()
        return dict.items(self)

    def __iter__(self) -> Iterator[Any]:
        self._all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._all()
        return dict.__len__(self)

    def __repr__(self) -> str:
        self._all()
        return str(self._str)

    def __str__(self) -> str:
        self._all()
        return str(self._str)

    def __eq__(self, other: object) -> bool:
        self._all()
        return HttpQueryString.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> dict[Any, Any]:
        self._all()
        return dict(dict.items(self))

    def popitem(self) -> tuple[Any, Any]:
        self._all()
        return dict.popitem(self)

    def __copy__(self) -> _Query:
        return _Query.over(self, self._recorder)

    def __deepcopy__(self, memo: dict[int, Any]) -> _Query:
        return _Query.over(self, self._recorder)


class _Cookies(HttpCookieJar):
    """The request's cookies, recording each name read, parsed from the ``Cookie`` field on first
    use (most handlers read none); ``request.cookies`` hands out copies, which record too."""

    _recorder: Recorder
    _parsed: dict[str, Any] | None
    _fields: dict[str, list[str]]

    @classmethod
    def over(cls, parsed: dict[str, Any] | None, fields: dict[str, list[str]], recorder: Recorder) -> _Cookies:
        view = cls.__new__(cls)
        view._parsed, view._fields, view._recorder = parsed, fields, recorder
        return view

    @property  # HttpCookieJar's attribute, as a property: parsed on first use
    def _cookies(self) -> dict[str, Any]:
        if self._parsed is None:
            lines = self._fields.get("cookie")
            # What chocs parses its cookies from: str() of what HttpHeaders.get("cookie") returns.
            header = "" if lines is None else lines[0] if len(lines) == 1 else str(lines)
            self._parsed = parse_cookie_header(header)._cookies
        return self._parsed

    @_cookies.setter
    def _cookies(self, parsed: dict[str, Any]) -> None:
        self._parsed = parsed

    def __getitem__(self, key: str) -> Any:
        self._recorder.read(self._recorder.cookies, key)
        return super().__getitem__(key)

    def __contains__(self, key: str) -> bool:
        self._recorder.read(self._recorder.cookies, key)
        return super().__contains__(key)

    def __len__(self) -> int:
        self._recorder.read_all("cookie")
        return super().__len__()

    def items(self) -> Any:
        self._recorder.read_all("cookie")
        return super().items()

    def values(self) -> Any:
        self._recorder.read_all("cookie")
        return super().values()

    def keys(self) -> Any:
        self._recorder.read_all("cookie")
        return super().keys()

    def __repr__(self) -> str:
        self._recorder.read_all("cookie")
        return super().__repr__()

    def __copy__(self) -> _Cookies:
        copied = {name: copy(cookie) for name, cookie in self._cookies.items()}
        return _Cookies.over(copied, self._fields, self._recorder)


def observe(request: HttpRequest) -> tuple[Recorder, tuple[Any, Any, Any]]:
    """Hand the request recording views of its headers, query string and cookies (for the
    handler); returns the recorder, and what ``give_back`` restores."""
    recorder = Recorder()
    originals = headers, query, cookies = request._headers, request.query_string, request._cookies
    request._headers = _Headers.over(headers, recorder)
    request.query_string = _Query.over(query, recorder)
    request._cookies = _Cookies.over(None if cookies is None else cookies._cookies, headers._headers, recorder)
    return recorder, originals


def give_back(request: HttpRequest, recorder: Recorder, originals: tuple[Any, Any, Any]) -> ReadInputs:
    """The request as it came (later reads are the cache's own, not recorded), and what was read."""
    recorder.closed = True
    request._headers, request.query_string, request._cookies = originals
    return recorder.inputs()
