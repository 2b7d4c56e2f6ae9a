"""Between chocs requests/responses and the cache's plain values.

Every chocs detail the cache depends on lives here (DESIGN.md §8):

- A header value assigned as a bare ``str`` is sent one character per line, so headers are
  rewritten as lists and written with ``override``.
- ``HttpResponse(status=<int>)`` scans the status enum; statuses are looked up once here.
- ``HttpHeaders`` normalises the name on every access (~0.25 µs). A cache hit reads a handful of
  request fields and writes a dozen response headers, which made name normalisation the largest
  cost of a hit; so this module, and only this module, reads and writes ``HttpHeaders._headers``
  (a dict of lower-case name to list of values, which chocs' own ``__copy__`` uses the same way)
  with names that are already normalised. ``tests/test_adapter.py`` pins that behaviour.
"""

from __future__ import annotations

from io import BytesIO

from chocs import HttpHeaders, HttpRequest, HttpResponse, HttpStatus

from .entries import HeaderFields, StoredResponse, VaryRecipe
from .keys import resource_id, variant_id
from .semantics.vary import normalise_field_value

__all__ = [
    "RequestTarget",
    "build_response",
    "header_fields",
    "is_representable",
    "sets_cookie",
]

_STATUS_BY_CODE = {member.value[0]: member for member in HttpStatus}


class RequestTarget:
    """The resource a request is for, and the request's values of the fields variants vary on."""

    __slots__ = ("_fields", "resource")

    def __init__(self, request: HttpRequest) -> None:
        self._fields = request.headers._headers
        host = _field_value(self._fields.get("host")) or ""
        self.resource = resource_id(host, request.path, str(request.query_string))

    def variant(self, recipe: VaryRecipe) -> str:
        fields = self._fields
        names = recipe.field_names
        return variant_id(self.resource, names, tuple([_field_value(fields.get(name)) for name in names]))


def _field_value(raw: list[str] | str | None) -> str | None:
    """The normalised value of a request field as chocs holds it, ``None`` when absent."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    elif len(raw) == 1:
        value = raw[0]
        if "," not in value and value == value.strip():
            return value  # the common case, without a call
    return normalise_field_value(raw)


def is_representable(status: int) -> bool:
    """True when chocs can build a response with this status code."""
    return status in _STATUS_BY_CODE


def header_fields(response: HttpResponse) -> HeaderFields:
    """Every header ``response`` will send, as (lower-case name, values) in sending order.

    A value the handler assigned as a bare ``str`` (``headers["X"] = "v"``) is rewritten as a
    one-item list on the response itself, so that it is sent as one line and not one per
    character.
    """
    headers = response.headers
    fields: list[tuple[str, tuple[str, ...]]] = []
    for name, raw in list(headers._headers.items()):
        if isinstance(raw, str):
            headers._headers[name] = [raw]
            fields.append((name, (raw,)))
        else:
            fields.append((name, tuple(str(value) for value in raw)))
    return tuple(fields)


def sets_cookie(response: HttpResponse) -> bool:
    """True when the response sets a cookie, through chocs' cookie jar or a raw header."""
    return len(response.cookies) > 0 or "set-cookie" in response.headers


def build_response(stored: StoredResponse, age: int, cache_status: str, with_body: bool = True) -> HttpResponse:
    """A new response with the stored status, headers and body, and its ``Age`` and ``Cache-Status``."""
    fields = {name: list(values) for name, values in stored.headers}
    fields["age"] = [str(age)]
    fields["cache-status"] = [cache_status]
    headers = HttpHeaders.__new__(HttpHeaders)
    headers._headers = fields
    response = HttpResponse(None, _STATUS_BY_CODE[stored.status], headers)
    if with_body:
        response.body = BytesIO(stored.body)  # shares the stored bytes until someone writes
    return response
