"""The chocs boundary: what the cache reads of a request and a handler's answer, and the responses it builds.

The rest of the package works on plain values (``entries.py``); every chocs detail the cache
depends on lives here (``docs/design.md``, "chocs facts we design around"):

- A header value assigned as a bare ``str`` is sent one character per line, so ``capture``
  rewrites such a value as a one-item list on the answer it reads.
- ``HttpResponse(status=<int>)`` scans the status enum; statuses are looked up once here.
- ``HttpHeaders`` normalises the name on every access (~0.25 µs). A cache hit reads a handful of
  request fields and writes a dozen response headers, which made name normalisation the largest
  cost of a hit; so this module, and only this module, reads and writes ``HttpHeaders._headers``
  (a dict of lower-case name to list of values, which chocs' own ``__copy__`` uses the same way)
  with names that are already normalised.
- ``HttpResponse.__init__`` costs 1 µs of a 4 µs hit; responses built here set the same eight
  attributes directly, but only after a check at import that this gives exactly the state
  chocs' constructor gives (otherwise the constructor is used).

``tests/test_adapter.py`` pins all of this, so a chocs upgrade that changes it shows there first.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from io import BytesIO
from types import FrameType

# chocs names the flow needs are exported here (``__all__``): no other module of the package
# imports chocs, so a chocs upgrade that moves one of them is fixed in this file.
from chocs import Application, HttpHeaders, HttpMethod, HttpRequest, HttpResponse, HttpStatus, Route
from chocs.http.http_cookies import HttpCookieJar
from chocs.middleware import Middleware, MiddlewareHandler

from .entries import HeaderFields, StoredResponse, UpstreamResponse, VaryRecipe
from .keys import (
    canonical_path,
    canonical_query,
    credentials_mac,
    host_name,
    resource_id,
    resource_path,
    uri_prefix,
    variant_id,
)
from .memo import BoundedMemo
from .semantics.negotiation import normalise, select
from .semantics.preconditions import NOT_MODIFIED_FIELDS, Conditions, Outcome, Verdict
from .semantics.ranges import ByteRange, Unsatisfiable, content_range
from .semantics.vary import normalise_field_value

__all__ = [
    "NO_CONTENT_LENGTH",
    "Application",
    "HttpMethod",
    "HttpRequest",
    "HttpResponse",
    "HttpStatus",
    "Keying",
    "Middleware",
    "MiddlewareHandler",
    "RequestTarget",
    "Route",
    "add_fields",
    "add_head_route",
    "answer_head_with",
    "build_conditional_answer",
    "build_gateway_timeout",
    "build_not_modified",
    "build_partial",
    "build_precondition_failed",
    "build_refreshed",
    "build_response",
    "capture",
    "match_get_route",
    "path_parameters",
    "registered_routes",
    "served_by_several_processes",
    "set_cache_status",
    "use_middleware",
    "validating",
]

_STATUS_BY_CODE = {member.value[0]: member for member in HttpStatus}
# Ids of the resources and variants requests ask for, remembered: a hot one is asked for on every
# hit. Keys are what the client sent, so both are bounded (4,096 keys of at most 1 KiB each).
_RESOURCES: BoundedMemo[tuple[str, ...], tuple[str, str, str | None]] = BoundedMemo(None, 4096, 1024)
_VARIANTS: BoundedMemo[tuple[object, ...], str] = BoundedMemo(None, 4096, 1024)
_HOSTS: BoundedMemo[str, str] = BoundedMemo(None, 1024, 256)
_NOT_MODIFIED = HttpStatus.NOT_MODIFIED


class Keying:
    """How a route keys its variants beyond the request's raw values: the secret that keys
    credentials (``CacheMiddleware(secret=...)``), and the values the route produces for the
    headers its ``cache_vary`` maps (a request is keyed by its best match among them)."""

    __slots__ = ("secret", "selections")

    def __init__(self, secret: bytes, selections: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> None:
        self.secret = secret
        self.selections = dict(selections)

    def values(self, names: tuple[str, ...], values: list[str | None]) -> tuple[str | None, ...]:
        """The request's values as the route keys them: selected, or in one spelling."""
        selections = self.selections
        return tuple(
            select(name, value, selections[name]) if name in selections else normalise(name, value)
            for name, value in zip(names, values)
        )


DEFAULT_KEYING = Keying(secrets.token_bytes(32))
"""For requests read without a route's keying (tests, tools): a secret of this process's own."""


class RequestTarget:
    """What the cache needs of a request: its resource, its variant values, its preconditions.

    The *resource* is the index of the request's path on its host (every query string of the
    path shares it); ``variant`` adds the canonical query string and the vary values.
    """

    __slots__ = (
        "_fields",
        "asks_range",
        "canonical_path",
        "has_authorization",
        "has_body",
        "has_conditions",
        "host",
        "keying",
        "path",
        "query",
        "resource",
        "spelling",
    )

    def __init__(
        self, request: HttpRequest, canonical_host: Callable[[str], str] | None = None, keying: Keying | None = None
    ) -> None:
        fields: dict[str, list[str]] = request._headers._headers
        self.keying = DEFAULT_KEYING if keying is None else keying
        self._fields = fields
        raw = fields.get("host")  # _field_value's common case written out, as in ``variant``
        if raw.__class__ is list and len(raw) == 1 and "," not in raw[0]:
            host: str = raw[0]
        else:
            host = _field_value(raw) or ""
        host = _HOSTS.get(host) or _HOSTS.remember(host, host_name(host), len(host))
        if canonical_host is not None:
            host = canonical_host(host)
        self.host = host
        path = self.path = request.path
        self.query = request.query_string._str  # what str() returns, without the call
        route = request.route
        pattern = route.route if route is not None else path
        key = (host, pattern, path)
        named = _RESOURCES.get(key)
        if named is None:
            canonical = path if route is None else canonical_path(pattern, request.path_parameters, path)
            spelling = None if resource_path(canonical) == canonical else canonical
            named = _RESOURCES.remember(key, (resource_id(host, canonical), canonical, spelling), len(host) + len(path))
        self.resource: str = named[0]
        self.canonical_path: str = named[1]
        self.spelling: str | None = named[2]
        """The path, when it is one of several spellings of its resource's (``keys.resource_path``)."""
        self.has_authorization = "authorization" in fields
        self.has_conditions = (
            "if-none-match" in fields
            or "if-modified-since" in fields
            or "if-unmodified-since" in fields
            or "if-match" in fields
        )
        self.has_body = bool(request._body.getvalue())
        self.asks_range = "range" in fields

    @property
    def url(self) -> str:
        """The request's URL as it was sent (its ``Host`` as given), for log lines."""
        host = _field_value(self._fields.get("host")) or self.host
        return f"//{host}{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def has_credentials(self) -> bool:
        return self.has_authorization or "cookie" in self._fields

    @property
    def sends_cookie(self) -> bool:
        return "cookie" in self._fields

    def variant(self, recipe: VaryRecipe) -> str:
        names = recipe.field_names
        fields = self._fields
        values: list[str | None] = []
        for name in names:  # _field_value, with its common case written out: this runs on every hit
            raw = fields.get(name)
            if raw is None:
                values.append(None)
            elif raw.__class__ is list and len(raw) == 1 and "," not in raw[0]:
                values.append(raw[0].strip())
            else:
                values.append(_field_value(raw))
        credentials = None
        if recipe.per_credentials:
            credentials = (_field_value(fields.get("authorization")), _field_value(fields.get("cookie")))
        keying = self.keying
        key = (self.resource, self.query, names, tuple(values), credentials, keying, self.spelling)
        variant = _VARIANTS.get(key)
        if variant is None:  # normalised, selected and keyed once per spelling: a hit finds the id
            size = len(self.query) + sum(len(value) for value in (*values, *(credentials or ())) if value)
            canonical = canonical_query(self.query)
            keyed = keying.values(names, values)
            mac = None if credentials is None else credentials_mac(keying.secret, *credentials)
            variant = _VARIANTS.remember(
                key, variant_id(self.resource, canonical, names, keyed, mac, self.spelling), size
            )
        return variant

    @property
    def uri_prefix(self) -> str:
        """What the ids of every stored response of this URI start with (see ``keys.uri_prefix``)."""
        return uri_prefix(self.resource, canonical_query(self.query), self.spelling)

    def field(self, name: str) -> str | None:
        """Request field ``name`` (lower case) as one value, ``None`` when absent."""
        raw = self._fields.get(name)
        return None if raw is None else _joined(raw)

    def field_lines(self, name: str) -> list[str]:
        """Every line of request field ``name`` (lower case), as sent."""
        raw = self._fields.get(name)
        return [] if raw is None else [raw] if isinstance(raw, str) else list(raw)

    def conditions(self) -> Conditions:
        """The request's precondition fields (ask when ``has_conditions``: most requests have none)."""
        fields = self._fields
        if_match, if_none_match = fields.get("if-match"), fields.get("if-none-match")
        if_modified_since, if_unmodified_since = fields.get("if-modified-since"), fields.get("if-unmodified-since")
        return Conditions(  # positionally: a keyword call of a NamedTuple costs twice as much
            None if if_match is None else _joined(if_match),
            None if if_none_match is None else _joined(if_none_match),
            None if if_modified_since is None else _joined(if_modified_since),
            None if if_unmodified_since is None else _joined(if_unmodified_since),
        )


def path_parameters(request: HttpRequest) -> Mapping[str, object]:
    """The path parameters chocs parsed for the request's route (``{"user_id": 1}``)."""
    parameters: Mapping[str, object] = request.path_parameters
    return parameters


def _field_value(raw: list[str] | str | None) -> str | None:
    """The normalised value of a request field as chocs holds it, ``None`` when absent."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    elif len(raw) == 1 and "," not in raw[0]:
        return raw[0].strip()  # the common case: one line, one member
    return normalise_field_value(raw)


def _joined(raw: list[str] | str) -> str:
    """One value of a field that may have come as several lines."""
    if isinstance(raw, str):
        return raw
    return raw[0] if len(raw) == 1 else ", ".join(raw)


_PRECONDITION_FIELDS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range")


@contextmanager
def validating(request: HttpRequest, etags: tuple[str, ...], last_modified: str | None) -> Iterator[None]:
    """While inside, the request asks the handler whether a stored representation is current.

    Its ``If-None-Match`` / ``If-Modified-Since`` carry the stored validators (RFC 9111 §4.3.1);
    the client's own preconditions are set aside, and put back afterwards for the cache to
    evaluate against whatever representation is current then.
    """
    fields = request.headers._headers
    saved = {name: fields.pop(name) for name in _PRECONDITION_FIELDS if name in fields}
    if etags:
        fields["if-none-match"] = [", ".join(etags)]
    if last_modified:
        fields["if-modified-since"] = [last_modified]
    try:
        yield
    finally:
        for name in _PRECONDITION_FIELDS:
            fields.pop(name, None)
        fields.update(saved)


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


def add_fields(response: HttpResponse, added: HeaderFields) -> None:
    """Write the headers the cache adds to the handler's answer (each one it did not set)."""
    for name, values in added:
        response.headers.override(name, list(values))


def set_cache_status(response: HttpResponse, value: str) -> HttpResponse:
    """``response`` with its ``Cache-Status`` (RFC 9211) set to ``value``."""
    response.headers.override("cache-status", [value])
    return response


def build_response(stored: StoredResponse, age: int, cache_status: str, with_body: bool = True) -> HttpResponse:
    """A new response with the stored status, headers and body, its ``Content-Length`` (also for
    ``HEAD``: the length a ``GET`` gets), ``Age`` and ``Cache-Status``."""
    fields = SharedFields(stored.sent_fields)
    fields["age"] = [str(age)]
    fields["cache-status"] = [cache_status]
    return _new_response(_status(stored.status), fields, stored.body if with_body else b"")


class SharedFields(dict):  # type: ignore[type-arg]
    """The header dict of a response made from storage: it shares the stored entry's values (tuples)
    until one is asked for, and then copies that one into a list of its own.

    Copying every list for every hit cost half a microsecond; but anything that changes a header
    of a chocs response goes through ``__getitem__`` (``HttpHeaders.set`` appends to
    ``_headers[name]``) or ``__setitem__`` (``override``), so the stored values are never changed.
    ``items()`` sees the tuples, which chocs' adapters send like lists.
    ``tests/test_adapter.py`` pins this.
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


NO_CONTENT_LENGTH = frozenset((204, 304))
"""RFC 9110 §8.6: never a ``Content-Length`` on a 204 (or a 304, which has no content of its own)."""


# Not taken from a 304 that refreshes a stored response: the stored body defines them (and chocs
# gives every response, a 304 included, a Content-Type of text/plain).
_KEPT_ON_REFRESH = frozenset(
    ("content-type", "content-length", "content-encoding", "transfer-encoding", "content-range", "age", "cache-status")
)


def build_refreshed(stored: StoredResponse, not_modified: HttpResponse, date: str) -> HttpResponse:
    """The stored response updated by the handler's 304 (RFC 9111 §4.3.4), as a full response.

    The 304's header fields replace the stored ones, except those the stored body defines; its
    cookies come along (and keep the result out of storage). A ``Cache-Control`` the cache wrote
    (``StoredResponse.advertised``) is left out, so that the route's keywords decide again.
    ``date`` is the ``Date`` to carry when the 304 has none: the representation was confirmed
    current just now.
    """
    fields = {name: [*values] for name, values in stored.headers}
    if stored.advertised:
        fields.pop("cache-control", None)  # the cache's own, from the route: written anew when it is stored again
    confirmation = capture(not_modified, body_limit=0)
    for name, values in confirmation.fields:
        if name not in _KEPT_ON_REFRESH:
            fields[name] = list(values)
    if confirmation.first("date") is None:
        fields["date"] = [date]
    response = _new_response(_status(stored.status), fields, stored.body)
    response.cookies = not_modified.cookies
    return response


def build_conditional_answer(
    verdict: Verdict, fields: HeaderFields, extra: dict[str, list[str]]
) -> HttpResponse | None:
    """The 304 or 412 that ``verdict`` calls for, for a representation with ``fields``; ``None`` to proceed."""
    if verdict.outcome is Outcome.NOT_MODIFIED:
        return build_not_modified(fields, extra)
    if verdict.outcome is Outcome.PRECONDITION_FAILED:
        return build_precondition_failed(verdict.decided_by, extra)
    return None


def build_not_modified(fields: HeaderFields, extra: dict[str, list[str]]) -> HttpResponse:
    """A 304 carrying the validators and caching headers of ``fields`` (RFC 9110 §15.4.5; a stored
    response's ``not_modified_headers`` are those already), and no body."""
    kept = {name: [*values] for name, values in fields if name in NOT_MODIFIED_FIELDS}
    kept.update(extra)
    return _new_response(_NOT_MODIFIED, kept, b"")


def build_precondition_failed(field: str, extra: dict[str, list[str]]) -> HttpResponse:
    """A 412 whose short body says which precondition failed."""
    body = f"Precondition Failed: {field} does not hold for the current representation.\n"
    fields = {"content-type": ["text/plain; charset=utf-8"], **extra}
    return _new_response(HttpStatus.PRECONDITION_FAILED, fields, body.encode())


def build_gateway_timeout() -> HttpResponse:
    """A 504 for ``Cache-Control: only-if-cached`` when nothing usable is stored (RFC 9111 §5.2.1.7)."""
    body = b"Gateway Timeout: nothing fresh is stored for this request, and it asked for only-if-cached.\n"
    return _new_response(HttpStatus.GATEWAY_TIMEOUT, {"content-type": ["text/plain; charset=utf-8"]}, body)


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


# -- the app's routes (``CacheMiddleware.attach``) --------------------------------------------------

Handler = Callable[[HttpRequest], HttpResponse]


def registered_routes(app: Application) -> list[tuple[HttpMethod, Route, Handler]]:
    """Every (method, route, handler) the app registered, in the order chocs matches them.
    chocs keeps them in ``app.router._routes``, a dict of method to (route, handler) pairs."""
    routes: dict[HttpMethod, list[tuple[Route, Handler]]] = app.router._routes
    return [(method, route, handler) for method, pairs in routes.items() for route, handler in pairs]


def add_head_route(app: Application, route: Route, get_handler: Handler) -> None:
    """Route ``HEAD`` on ``route``'s pattern, with its keywords, to ``get_handler``'s answer without
    its body (chocs routes a ``HEAD`` only to a route registered for it)."""
    app.router.append(Route(route.route, dict(route.attributes)), _without_body(get_handler), HttpMethod.HEAD)


def match_get_route(app: Application, request: HttpRequest) -> tuple[Route, Handler] | None:
    """The ``GET`` route (matched, with its parameters) and handler for the request's path, if any."""
    try:
        route, handler = app.router.match(request.path, HttpMethod.GET)
    except Exception:  # chocs raises NotFoundError (and nothing else) when nothing matches
        return None
    return route, handler


def answer_head_with(request: HttpRequest, route: Route, get_handler: Handler) -> None:
    """Route a ``HEAD`` that chocs could not route to ``route``, answered by ``get_handler`` without
    its body, as ``add_head_route`` does for the routes ``attach`` saw (chocs picks the handler
    before the middleware runs, from ``request.attributes["__handler__"]``)."""
    request.route = route
    request.path_parameters = route.parameters
    request.attributes["__handler__"] = _without_body(get_handler)


def _without_body(get_handler: Handler) -> Handler:
    def head(request: HttpRequest) -> HttpResponse:
        response = get_handler(request)
        body = response.body
        length = body.getbuffer().nbytes
        if "content-length" not in response.headers._headers and int(response.status_code) not in NO_CONTENT_LENGTH:
            response.headers.override("content-length", [str(length)])  # what a GET would be sent
        response.body = BytesIO(b"")
        return response

    return head


def served_by_several_processes(depth: int = 64) -> bool:
    """Whether the WSGI server calling this thread runs several processes (``wsgi.multiprocess``).

    chocs keeps no environ on its request, but its WSGI handler holds one in a local named
    ``environ``: the frames above are looked through, once. ``False`` when none is found (AWS
    Lambda, a test calling the app directly).
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return False
        environ = frame.f_locals.get("environ")
        if isinstance(environ, dict) and "wsgi.multiprocess" in environ:
            return bool(environ["wsgi.multiprocess"])
        frame = frame.f_back
    return False


def use_middleware(app: Application, middleware: Middleware) -> None:
    """Put ``middleware`` last in the app's pipeline, unless it is there already. chocs builds the
    pipeline on the first request (``app._cached_middleware``): this must come before it."""
    if middleware not in app._middleware.queue:
        app._middleware.append(middleware)
        app._cached_middleware = None
