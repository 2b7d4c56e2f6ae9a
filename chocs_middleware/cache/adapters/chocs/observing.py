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

from collections.abc import Callable
from copy import copy
from typing import Any

from chocs import HttpRequest
from chocs.http.http_cookies import HttpCookieJar, parse_cookie_header
from chocs.http.http_headers import HttpHeaders, _normalize_header_name
from chocs.http.http_query_string import HttpQueryString

from ...decisions.observed import NOTHING_READ, ReadInputs
from ...semantics.cookies import cookie_header

__all__ = ["Recorder", "give_back", "observe"]


class Recorder:
    """The names read, by kind, until ``closed``: reads after the handler returned are the cache's own."""

    __slots__ = ("closed", "cookie", "every", "header", "query")

    def __init__(self) -> None:
        self.header: set[str] = set()
        self.cookie: set[str] = set()
        self.query: set[str] = set()
        self.every: set[str] = set()
        """The kinds of which every input was seen."""
        self.closed = False

    def read(self, kind: str, name: object) -> None:
        if not self.closed:
            getattr(self, kind).add(str(name))

    def read_all(self, kind: str) -> None:
        if not self.closed:
            self.every.add(kind)

    def inputs(self) -> ReadInputs:
        if not (self.header or self.cookie or self.query or self.every):
            return NOTHING_READ
        every = self.every
        return ReadInputs(
            frozenset(self.header),
            frozenset(self.cookie),
            frozenset(self.query),
            "header" in every,
            "cookie" in every,
            "query" in every,
        )


def _named(kind: str, method: Callable[..., Any], name_of: Callable[[Any], str] = str) -> Callable[..., Any]:
    """``method`` of a view, recording the name of the ``kind`` of input it reads (its first argument)."""

    def reading(self: Any, name: Any, *arguments: Any) -> Any:
        self._recorder.read(kind, name_of(name))
        return method(self, name, *arguments)

    return reading


def _every(kind: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` of a view, recording that every input of ``kind`` was seen."""

    def seeing_all(self: Any, *arguments: Any) -> Any:
        self._recorder.read_all(kind)
        return method(self, *arguments)

    return seeing_all


def _header_name(name: Any) -> str:
    return _normalize_header_name(str(name))


class _Headers(HttpHeaders):
    """The request's headers (the same dict of lines), recording each name read."""

    _recorder: Recorder

    @classmethod
    def over(cls, headers: HttpHeaders, recorder: Recorder) -> _Headers:
        view = cls.__new__(cls)
        view._headers = headers._headers
        view._recorder = recorder
        return view

    __getitem__ = _named("header", HttpHeaders.__getitem__, _header_name)
    __contains__ = _named("header", HttpHeaders.__contains__, _header_name)
    get = _named("header", HttpHeaders.get, _header_name)
    items = _every("header", HttpHeaders.items)
    values = _every("header", HttpHeaders.values)
    keys = _every("header", HttpHeaders.keys)
    __repr__ = _every("header", HttpHeaders.__repr__)
    __eq__ = _every("header", lambda self, other: isinstance(other, HttpHeaders) and self._headers == other._headers)
    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> _Headers:
        return _Headers.over(HttpHeaders.__copy__(self), self._recorder)


class _Query(HttpQueryString):
    """The request's parsed query string (a dict), recording each parameter read."""

    _recorder: Recorder

    @classmethod
    def over(cls, query: HttpQueryString, recorder: Recorder) -> _Query:
        view = cls.__new__(cls)
        dict.update(view, dict.items(query))  # not through this view's own items(), which records
        view._str = query._str
        view._recorder = recorder
        return view

    __getitem__ = _named("query", dict.get)  # chocs answers None for a missing one, as get does
    get = _named("query", dict.get)
    __contains__ = _named("query", dict.__contains__)
    pop = _named("query", dict.pop)
    setdefault = _named("query", dict.setdefault)
    keys = _every("query", dict.keys)
    values = _every("query", dict.values)
    items = _every("query", dict.items)
    __iter__ = _every("query", dict.__iter__)
    __len__ = _every("query", dict.__len__)
    __repr__ = __str__ = _every("query", lambda self: str(self._str))
    __eq__ = _every("query", HttpQueryString.__eq__)
    __hash__ = None  # type: ignore[assignment]
    copy = _every("query", lambda self: dict(dict.items(self)))
    popitem = _every("query", dict.popitem)

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
            self._parsed = parse_cookie_header(cookie_header(self._fields.get("cookie")) or "")._cookies
        return self._parsed

    @_cookies.setter
    def _cookies(self, parsed: dict[str, Any]) -> None:
        self._parsed = parsed

    __getitem__ = _named("cookie", HttpCookieJar.__getitem__)
    __contains__ = _named("cookie", HttpCookieJar.__contains__)
    __len__ = _every("cookie", HttpCookieJar.__len__)
    items = _every("cookie", HttpCookieJar.items)
    values = _every("cookie", HttpCookieJar.values)
    keys = _every("cookie", HttpCookieJar.keys)
    __repr__ = _every("cookie", HttpCookieJar.__repr__)

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
