"""chocs responses: the handler's answer read once as plain values (``capture``), and the
responses the cache builds from storage.

chocs details these rely on (``docs/design.md``, "chocs facts we design around"; pinned by
``tests/adapters/test_chocs.py``):

- A header value assigned as a bare ``str`` is sent one character per line, so ``capture``
  rewrites such a value as a one-item list on the answer it reads.
- ``HttpResponse(status=<int>)`` scans the status enum; statuses are looked up once here.
- ``HttpHeaders`` normalises the name on every access (~0.25 µs); this module reads and writes
  ``HttpHeaders._headers`` (a dict of lower-case name to list of values, which chocs' own
  ``__copy__`` uses the same way) with names that are already normalised.
- ``HttpResponse.__init__`` costs 1 µs of a 4 µs hit; responses built here set the same eight
  attributes directly, but only after a check at import that this gives exactly the state
  chocs' constructor gives (otherwise the constructor is used).
"""

from __future__ import annotations

from io import BytesIO

from chocs import HttpHeaders, HttpResponse, HttpStatus
from chocs.http.http_cookies import HttpCookieJar

from ...decisions.values import HeaderFields, StoredResponse, UpstreamResponse
from ...semantics.ranges import ByteRange, Unsatisfiable, content_range

__all__ = [
    "SharedFields",
    "add_fields",
    "build_gateway_timeout",
    "build_not_modified",
    "build_partial",
    "build_precondition_failed",
    "build_refreshed",
    "build_response",
    "capture",
]

_STATUS_BY_CODE = {member.value[0]: member for member in HttpStatus}
_NOT_MODIFIED = HttpStatus.NOT_MODIFIED


def capture(response: HttpResponse, body_limit: int) -> UpstreamResponse:
    """The handler's answer as plain values, read once.

    The body is copied only when it is at most ``body_limit`` bytes (a larger one is never
    stored). Reading settles one chocs quirk on the answer itself: a header value assigned as a
    bare ``str`` (through ``HttpHeaders.__setitem__``) is rewritten as a one-item list, so that it
    is sent as one line, not one per character, whether the answer is stored or not.
    """
    headers = response.headers
    fields: list[tuple[str, tuple[str, ...]]] = []
    for name, raw in list(headers._headers.items()):
        if isinstance(raw, str):
            headers.override(name, [raw])
            fields.append((name, (raw,)))
        else:
            fields.append((name, tuple(str(value) for value in raw)))
    body = response.body
    size = body.getbuffer().nbytes
    return UpstreamResponse(
        status=int(response.status_code),
        fields=tuple(fields),
        body=body.getvalue() if size <= body_limit else b"",
        size=size,
        sets_cookie=len(response.cookies) > 0 or "set-cookie" in headers._headers,
    )


def add_fields(response: HttpResponse, added: HeaderFields) -> HttpResponse:
    """``response`` with the fields the cache adds to the handler's answer (each replacing its name's)."""
    kept = response.headers._headers  # the names are the cache's own, already as chocs keeps them
    for name, values in added:
        kept[name] = [*values]
    return response


def build_response(stored: StoredResponse, age: int, cache_status: str, with_body: bool = True) -> HttpResponse:
    """A new response with the stored status, headers and body, its ``Content-Length`` (also for
    ``HEAD``: the length a ``GET`` gets), ``Age`` and ``Cache-Status``."""
    fields = SharedFields(stored.sent_fields)
    fields["age"] = [str(age)]
    fields["cache-status"] = [cache_status]
    code = stored.status
    status = _STATUS_BY_CODE.get(code, code)  # _status, inline: every hit comes this way
    return _new_response(status, fields, stored.body if with_body else b"")  # type: ignore[arg-type]


class SharedFields(dict):  # type: ignore[type-arg]
    """The header dict of a response made from storage: it shares the stored entry's values (tuples)
    until one is asked for, and then copies that one into a list of its own.

    Copying every list for every hit cost half a microsecond; but anything that changes a header
    of a chocs response goes through ``__getitem__`` (``HttpHeaders.set`` appends to
    ``_headers[name]``) or ``__setitem__`` (``override``), so the stored values are never changed.
    ``items()`` sees the tuples, which chocs' adapters send like lists.
    ``tests/adapters/test_chocs.py`` pins this.
    """

    __slots__ = ()

    def __getitem__(self, name: str) -> list[str]:
        values = dict.__getitem__(self, name)
        if values.__class__ is tuple:
            values = [*values]
            dict.__setitem__(self, name, values)
        return values  # type: ignore[no-any-return]

    def get(self, name: str, default: object = None) -> object:
        # ``HttpHeaders.__getitem__`` reads through ``get``: give it a list, as chocs would.
        return self[name] if name in self else default  # noqa: SIM401 (this is get)


def build_partial(
    stored: StoredResponse, selection: ByteRange | Unsatisfiable, age: int, cache_status: str
) -> HttpResponse:
    """A 206 with the selected bytes of the stored body, or a 416 when none can be (RFC 9110 §14.4, §15.5.17)."""
    fields = {name: [*values] for name, values in stored.headers}
    fields["content-range"] = [content_range(selection)]
    if isinstance(selection, Unsatisfiable):
        body, status = b"", HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE
    else:
        body, status = stored.body[selection.first : selection.last + 1], HttpStatus.PARTIAL_CONTENT
    fields["content-length"] = [str(len(body))]
    fields["age"] = [str(age)]
    fields["cache-status"] = [cache_status]
    return _new_response(status, fields, body)


def _status(code: int) -> HttpStatus:
    """chocs' member for ``code``; a code outside its enum stays an int, which every chocs adapter
    sends as it is (they all write ``int(response.status_code)``)."""
    return _STATUS_BY_CODE.get(code, code)  # type: ignore[arg-type]


def build_refreshed(stored: StoredResponse, fields: HeaderFields, not_modified: HttpResponse) -> HttpResponse:
    """The stored response freshened by the handler's 304 (``fields``: ``values.refreshed_fields``),
    as a full response; the 304's cookies come along (and keep the result out of storage)."""
    response = _new_response(_status(stored.status), {name: [*values] for name, values in fields}, stored.body)
    response.cookies = not_modified.cookies
    return response


def build_not_modified(fields: HeaderFields, extra: dict[str, list[str]]) -> HttpResponse:
    """A 304 with ``fields`` (what a 304 carries of the full response: ``not_modified_fields``),
    ``extra``, and no body."""
    kept = SharedFields(fields)
    kept.update(extra)
    return _new_response(_NOT_MODIFIED, kept, b"")


def build_precondition_failed(decided_by: str, extra: dict[str, list[str]]) -> HttpResponse:
    """A 412 whose short body says which precondition failed."""
    body = f"Precondition Failed: {decided_by} does not hold for the current representation.\n"
    fields = {"content-type": ["text/plain; charset=utf-8"], **extra}
    return _new_response(HttpStatus.PRECONDITION_FAILED, fields, body.encode())


def build_gateway_timeout(cache_status: str) -> HttpResponse:
    """A 504 for ``Cache-Control: only-if-cached`` when nothing usable is stored (RFC 9111 §5.2.1.7)."""
    body = b"Gateway Timeout: nothing fresh is stored for this request, and it asked for only-if-cached.\n"
    fields = {"content-type": ["text/plain; charset=utf-8"], "cache-status": [cache_status]}
    return _new_response(HttpStatus.GATEWAY_TIMEOUT, fields, body)


def _headers_from(fields: dict[str, list[str]]) -> HttpHeaders:
    headers = HttpHeaders.__new__(HttpHeaders)
    headers._headers = fields
    return headers


def _public_response(status: HttpStatus, fields: dict[str, list[str]], body: bytes) -> HttpResponse:
    """Through chocs' constructor, which adds ``Content-Type: text/plain`` when there is none."""
    has_content_type = "content-type" in fields
    response = HttpResponse(None, status, _headers_from(fields))
    if not has_content_type:
        del fields["content-type"]
    response.body = BytesIO(body)  # shares the stored bytes until someone writes
    return response


def _direct_response(status: HttpStatus, fields: dict[str, list[str]], body: bytes) -> HttpResponse:
    """The state ``_public_response`` gives, without the constructor's checks."""
    response: HttpResponse = HttpResponse.__new__(HttpResponse)
    headers = response._headers = HttpHeaders.__new__(HttpHeaders)  # _headers_from, without a call: every hit
    headers._headers = fields
    response.status_code = status
    response._body = BytesIO(body)
    response.encoding = "utf-8"
    response.cookies = HttpCookieJar()  # type: ignore[no-untyped-call]
    response._parsed_body = None
    response._as_dict = None
    response._as_str = None
    return response


def _builds_the_same_state() -> bool:
    def state(response: HttpResponse) -> dict[str, object]:
        fields = vars(response)
        return {
            "names": sorted(fields),
            "headers": response.headers._headers,
            "body": response.body.getvalue(),
            "cookies": len(response.cookies),
            "plain": {name: value for name, value in fields.items() if value is None or isinstance(value, (str, int))},
        }

    sample = {"content-type": ["application/json"], "etag": ['"x"']}
    try:
        direct = _direct_response(HttpStatus.OK, dict(sample), b"{}")
        public = _public_response(HttpStatus.OK, dict(sample), b"{}")
        return state(direct) == state(public) and direct.status_code is public.status_code
    except Exception:  # pragma: no cover - a chocs that no longer fits the shortcut
        return False


_new_response = _direct_response if _builds_the_same_state() else _public_response
