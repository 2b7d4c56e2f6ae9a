"""What the middleware and each route were configured with, checked once, and the credentials rule.

Middleware options are checked at construction. The middleware first sees a route on its first
request, so a mistake in a route keyword fails there, loudly, with a ``TypeError``/``ValueError``
that names the route and the keyword. Everything here is plain values: no chocs, no storage.
"""

from __future__ import annotations

import difflib
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .cache_storage import ICacheStorage
from .checks import check_flag, check_number
from .entries import StoredResponse, VaryRecipe
from .keys import parameter_text, route_parameters
from .semantics.cache_control import MAX_DELTA_SECONDS
from .semantics.vary import ANY, is_field_name

__all__ = [
    "CACHEABLE_METHODS",
    "NEGOTIATION_FIELDS",
    "GroupNames",
    "Keeping",
    "Lookup",
    "MiddlewareOptions",
    "RoutePolicy",
    "WritePolicy",
    "advice",
    "build_options",
    "build_policy",
    "build_write_policy",
    "check_storage",
    "validate_vary",
]

ROUTE_KEYWORDS = (
    "cache",
    "cache_control",
    "cache_expiry",
    "cache_groups",
    "cache_invalidates",
    "cache_max_age",
    "cache_stale_if_error",
    "cache_stale_while_revalidate",
    "cache_validate_variants",
    "cache_vary",
)
MAX_GROUP_TEMPLATES = 64
CACHE_CONTROL_VALUES = ("public", "private")
CACHEABLE_METHODS = frozenset(("GET", "HEAD"))
"""The only methods whose responses the cache may answer (its keys do not include the method)."""
NEGOTIATION_FIELDS = frozenset(("accept", "accept-charset", "accept-encoding", "accept-language"))
"""Request fields of content negotiation (RFC 9110 §12.5): the only ones across whose variants a
stored response may be validated (``cache_validate_variants``); any other may identify a user."""


@dataclass(frozen=True)
class MiddlewareOptions:
    """``CacheMiddleware``'s options, checked; routes may override ``vary``."""

    vary: tuple[str, ...]
    safe_methods: frozenset[str]
    """Method names answered from the cache (a subset of ``CACHEABLE_METHODS``)."""
    successful_statuses: frozenset[int]
    max_body_size: int
    honour_request_cache_control: bool
    lock_timeout: float
    keep_stale: int = 3600
    """Seconds a stored response is kept after it goes stale, to be revalidated (0: forgotten)."""
    targeted_fields: tuple[str, ...] = ("chocs-cache-control",)
    """Targeted cache-control fields this cache obeys (RFC 9213), the first one present wins."""
    heuristic_fraction: float = 0.0
    """Heuristic freshness (RFC 9111 §4.2.2): this fraction of the time since ``Last-Modified``."""
    heuristic_max_lifetime: int = 86400
    background_revalidation: bool = True
    """A stale-while-revalidate refresh runs in the background (else the caller waits for it)."""
    canonical_host: Callable[[str], str] | None = None
    """The host a request's responses are stored under, from the host it names (``None``: that one)."""
    secret: bytes = b""
    """The key of the HMAC that turns credentials into key parts (docs/security.md)."""
    secret_configured: bool = False
    """``secret`` was given; else it is random, this process's own."""


def build_options(
    vary: object,
    safe_methods: Iterable[object] | str,
    successful_responses: Iterable[object],
    *,
    max_body_size: object,
    honour_request_cache_control: object,
    lock_timeout: object,
    keep_stale: object = 3600,
    targeted_fields: object = ("chocs-cache-control",),
    heuristic_fraction: object = 0.0,
    heuristic_max_lifetime: object = 86400,
    background_revalidation: object = True,
    canonical_host: object = None,
    secret: object = None,
) -> MiddlewareOptions:
    """The middleware's options, or the error that says which one is wrong and how."""
    return MiddlewareOptions(
        vary=validate_vary(vary, "CacheMiddleware(cache_vary=...)"),
        safe_methods=_safe_methods(safe_methods),
        successful_statuses=_status_codes(successful_responses),
        max_body_size=int(
            check_number(max_body_size, "CacheMiddleware(max_body_size=...)", unit="bytes", whole=True, minimum=0)
        ),
        honour_request_cache_control=check_flag(
            honour_request_cache_control, "CacheMiddleware(honour_request_cache_control=...)"
        ),
        lock_timeout=float(
            check_number(
                lock_timeout, "CacheMiddleware(lock_timeout=...)", unit="seconds", whole=False, minimum=0, above=True
            )
        ),
        keep_stale=int(
            check_number(keep_stale, "CacheMiddleware(keep_stale=...)", unit="seconds", whole=True, minimum=0)
        ),
        targeted_fields=_targeted_fields(targeted_fields),
        heuristic_fraction=_fraction(heuristic_fraction, "CacheMiddleware(heuristic_fraction=...)"),
        heuristic_max_lifetime=int(
            check_number(
                heuristic_max_lifetime,
                "CacheMiddleware(heuristic_max_lifetime=...)",
                unit="seconds",
                whole=True,
                minimum=0,
            )
        ),
        background_revalidation=check_flag(background_revalidation, "CacheMiddleware(background_revalidation=...)"),
        canonical_host=_canonical_host(canonical_host),
        secret=_secret(secret),
        secret_configured=secret is not None,
    )


def _targeted_fields(value: object) -> tuple[str, ...]:
    """Field names as a tuple, list or set; one string is refused (it reads like one name but
    ``cache_vary``'s rule would split it at commas, and a typo there silently targets nothing)."""
    if isinstance(value, str):
        raise TypeError(
            f"CacheMiddleware(targeted_fields=...) must be field names as a tuple, got the string {value!r}; "
            f"write targeted_fields=({value!r},)"
        )
    return validate_vary(value, "CacheMiddleware(targeted_fields=...)")


def _secret(value: object) -> bytes:
    """The secret as bytes (a ``str`` is UTF-8 encoded); a random one of this process when ``None``."""
    if value is None:
        return secrets.token_bytes(32)
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"CacheMiddleware(secret=...) must be bytes or a str, got {type(value).__name__}")
    if len(value) < 16:
        raise ValueError("CacheMiddleware(secret=...) must be at least 16 bytes: it keys every per-user entry")
    return bytes(value)


def _canonical_host(value: object) -> Callable[[str], str] | None:
    """``None``, a host name (every request is stored under it), or a function of the request's host."""
    if value is None:
        return None
    if isinstance(value, str):
        name = value.strip().lower()
        if not name or any(char.isspace() or char in "/?#@" for char in name):
            raise ValueError(
                f"CacheMiddleware(canonical_host=...) must be a host name such as 'api.example.com', got {value!r}"
            )
        return lambda _host: name
    if callable(value):
        function: Callable[[str], str] = value
        return function
    raise TypeError(
        f"CacheMiddleware(canonical_host=...) must be a host name or a function of the request's host, got {value!r}"
    )


def _fraction(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be a fraction such as 0.1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{where} must be a fraction from 0 to 1, got {value}")
    return float(value)


def check_storage(storage: object) -> None:
    """A storage instance with ``get`` and ``set``, or the error that says what was passed instead."""
    if isinstance(storage, type):
        raise TypeError(
            f"CacheMiddleware needs a storage instance, got the class {storage.__name__}; "
            f"write CacheMiddleware({storage.__name__}())"
        )
    if not isinstance(storage, ICacheStorage):
        raise TypeError(
            f"CacheMiddleware needs a storage with get(item_id) and set(item) methods, "
            f"got {storage!r} ({type(storage).__name__})"
        )


def _safe_methods(methods: Iterable[object] | str) -> frozenset[str]:
    if isinstance(methods, str):
        methods = [methods]
    names = frozenset(str(method).upper() for method in methods)  # HttpMethod members print as their name
    if not names <= CACHEABLE_METHODS:
        other = ", ".join(sorted(names - CACHEABLE_METHODS))
        raise ValueError(
            f"CacheMiddleware(safe_methods=...) may only contain GET and HEAD (responses to other "
            f"methods are never served from the cache), got {other}"
        )
    return names


def _status_codes(statuses: Iterable[object]) -> frozenset[int]:
    codes = []
    for status in statuses:
        # An int, or anything that converts to one as chocs' HttpStatus members do; not text or fractions.
        if isinstance(status, (bool, str, bytes, float)) or not hasattr(status, "__int__"):
            raise TypeError(f"CacheMiddleware(successful_responses=...) must hold statuses, got {status!r}")
        code = int(status)
        if not 200 <= code <= 499:
            raise ValueError(
                f"CacheMiddleware(successful_responses=...) holds {code}: only statuses from 200 to 499 can be "
                f"stored on cache_expiry routes (a 5xx never is; a handler that states its own freshness on a "
                f"cache=True route is the way to store one)"
            )
        codes.append(code)
    return frozenset(codes)


class Lookup(NamedTuple):
    """How to look up the stored response for a request: the credentials rule, for reading."""

    recipe: VaryRecipe
    """The recipe the request's response is most likely stored under (a guess that saves a read)."""
    shared_allowed: bool
    """Whether a shared response that is not explicitly shareable may answer the request."""

    def may_serve(self, recipe: VaryRecipe, stored: StoredResponse) -> bool:
        """Whether ``stored``, kept under ``recipe``, may answer the request: one kept per
        credentials was found with the request's own; a shared one only when the request may have
        shared responses or the response is explicitly shareable."""
        return self.shared_allowed or recipe.per_credentials or stored.public


class Keeping(NamedTuple):
    """How a response is kept: the credentials rule, for storing."""

    per_credentials: bool
    """Kept under the request's credentials, served back only to them."""
    public: bool
    """Explicitly shareable: may answer requests with credentials of their own."""


@dataclass(frozen=True)
class RoutePolicy:
    """How one route (path pattern and method) is cached."""

    route: str
    """The route's path pattern, as registered (``/users/{user_id}``): names it in errors and logs."""
    expiry: int
    """``cache_expiry``: seconds a stored response stays fresh, unless its own headers say."""
    standards_mode: bool
    """``cache=True`` on a route without ``cache_expiry``: a response is stored for exactly as
    long as its own ``Cache-Control`` / ``Expires`` make it fresh."""
    vary: tuple[str, ...]
    control: str | None
    """``cache_control``: ``"public"``, ``"private"`` or unset."""
    stale_while_revalidate: int
    """``cache_stale_while_revalidate``: seconds a stale response is served while one caller
    refreshes it; a response's own ``stale-while-revalidate`` wins."""
    stale_if_error: int
    """``cache_stale_if_error``: seconds a stale response is served when the handler fails; a
    response's own ``stale-if-error`` wins."""
    successful_statuses: frozenset[int]
    max_body_size: int
    options: MiddlewareOptions
    """What the middleware was configured with."""
    groups: GroupNames | None = None
    """``cache_groups``: the cache groups of the responses the route stores (RFC 9875)."""
    max_age: int | None = None
    """``cache_max_age``: the ``max-age`` advertised in the ``Cache-Control`` the cache adds (0:
    ``no-cache``); ``None``: the route's ``cache_expiry``."""
    selections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``cache_vary`` given as a mapping: for each of those headers, the values the route produces;
    a request is keyed by its best match among them, not by its raw header."""
    validate_variants: bool = False
    """``cache_validate_variants``: on a ``vary-miss``, ask the handler whether a response stored
    for other ``Accept*`` values will do (RFC 9111 §4.3.1); only for negotiation fields."""
    anonymous_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request without ``Authorization`` is looked up (read on every hit: no call)."""
    authorized_lookup: Lookup = field(init=False, repr=False, compare=False)
    """How a request with ``Authorization`` is looked up."""

    def __post_init__(self) -> None:
        # The credentials rule of docs/security.md, for reading: a request with credentials, on a
        # route that is not public, is looked up per credentials and gets a shared response only
        # when it is explicitly shareable. A private route keeps everything per credentials.
        shared = VaryRecipe(tuple(sorted(self.vary)))
        per_credentials = VaryRecipe(shared.field_names, per_credentials=True)
        anonymous = Lookup(per_credentials if self.control == "private" else shared, True)
        authorized = anonymous if self.control == "public" else Lookup(per_credentials, False)
        object.__setattr__(self, "anonymous_lookup", anonymous)
        object.__setattr__(self, "authorized_lookup", authorized)

    @property
    def stores(self) -> bool:
        return self.expiry > 0 or self.standards_mode

    def lookup(self, has_authorization: bool) -> Lookup:
        """How a request with (or without) ``Authorization`` is looked up."""
        return self.authorized_lookup if has_authorization else self.anonymous_lookup

    def keeping(self, private: bool, explicitly_shareable: bool, has_authorization: bool) -> Keeping:
        """How a response is kept (RFC 9111 §3.5): ``private`` (the response's or the route's) keeps
        it per credentials; a response to a request with ``Authorization`` is kept for those
        credentials too, unless it is explicitly shareable (``public``, ``s-maxage``, a public route)."""
        private = private or self.control == "private"
        public = not private and (self.control == "public" or explicitly_shareable)
        return Keeping(per_credentials=private or (has_authorization and not public), public=public)

    @property
    def vary_header(self) -> str:
        return ", ".join(self.vary)


class GroupNames:
    """A route's ``cache_groups`` or ``cache_invalidates``: names formatted with the request's path
    parameters (``"user:{user_id}"``), or a function of the request that returns them."""

    def __init__(self, route: str, keyword: str, value: object) -> None:
        self.route, self.keyword = route, keyword
        self.function: Callable[[Any], object] | None = None
        self.templates: tuple[str, ...] = ()
        if callable(value):
            self.function = value
        elif isinstance(value, str):
            self.templates = (value,)  # one group, not one per character
        elif isinstance(value, (tuple, list, set, frozenset)):
            self.templates = tuple(value)
        else:
            raise TypeError(
                f'{self._where} must be group names (a tuple of strings such as ("users", "user:{{user_id}}")) '
                f"or a function of the request, got {value!r}"
            )
        if len(self.templates) > MAX_GROUP_TEMPLATES:
            raise ValueError(f"{self._where} names {len(self.templates)} groups; at most {MAX_GROUP_TEMPLATES}")
        parameters = route_parameters(route)
        for template in self.templates:
            self._check(template, parameters)

    @property
    def _where(self) -> str:
        return f"{self.keyword} on route {self.route!r}"

    def _check(self, template: object, parameters: tuple[str, ...]) -> None:
        if not isinstance(template, str):
            raise TypeError(f"{self._where} must contain strings, got {template!r}")
        try:
            fields = [
                (name, spec, conversion)
                for _, name, spec, conversion in string.Formatter().parse(template)
                if name is not None
            ]
        except ValueError as error:
            raise ValueError(f"{self._where}: {template!r} is not a valid template ({error})") from None
        for name, spec, conversion in fields:
            if name not in parameters or spec or conversion:
                known = ", ".join(parameters) or "none"
                raise ValueError(
                    f"{self._where}: {template!r} uses {{{name}{'!' + conversion if conversion else ''}"
                    f"{':' + spec if spec else ''}}}; only the route's path parameters can be named, "
                    f"as {{name}} (its parameters: {known})"
                )

    def names(self, parameters: Mapping[str, object], request: object) -> tuple[str, ...]:
        """The group names for one request (``parameters``: its parsed path parameters)."""
        if self.function is None:
            texts = {name: parameter_text(value) for name, value in parameters.items()}
            return tuple(dict.fromkeys(template.format_map(texts) for template in self.templates))
        result = self.function(request)
        if isinstance(result, str):
            return (result,)
        names = list(result) if isinstance(result, Iterable) else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise TypeError(f"the function given as {self._where} must return group names (strings), got {result!r}")
        return tuple(dict.fromkeys(names))

    def __repr__(self) -> str:
        return f"GroupNames({self._where}: {self.function or self.templates!r})"


@dataclass(frozen=True)
class WritePolicy:
    """How a route with an unsafe method invalidates (every such route does, RFC 9111 §4.4)."""

    route: str
    reads: RoutePolicy
    """How the stored representation of the route's path is looked up (its keywords, or the
    middleware's defaults): a write whose preconditions fail against it is refused without the
    handler (lost-update protection)."""
    invalidates: GroupNames | None
    """``cache_invalidates``: the groups a successful write invalidates, besides its path."""


def build_write_policy(route: str, attributes: Mapping[str, object], options: MiddlewareOptions) -> WritePolicy:
    """The invalidation policy of a route with an unsafe method."""
    _reject_unknown_keywords(route, attributes)
    if attributes.get("cache_groups") is not None:
        raise ValueError(
            f"cache_groups on route {route!r} has no effect on a method whose responses are never stored; "
            f"a write names the groups it changes with cache_invalidates"
        )
    for keyword in STORING_KEYWORDS:
        if attributes.get(keyword) is not None:
            raise ValueError(
                f"{keyword} on route {route!r} has no effect on a write: responses to POST, PUT, PATCH and "
                f"DELETE are never stored (a successful one invalidates its path); put it on the GET route"
            )
    reads = build_policy(route, {**attributes, "cache_invalidates": None}, options)
    if reads is None:  # no cache keyword: the stored representation is looked up as the defaults say
        reads = build_policy(route, {"cache": True}, options)
        assert reads is not None
    invalidates = attributes.get("cache_invalidates")
    groups = None if invalidates is None else GroupNames(route, "cache_invalidates", invalidates)
    return WritePolicy(route, reads, groups)


def build_policy(route: str, attributes: Mapping[str, object], options: MiddlewareOptions) -> RoutePolicy | None:
    """The policy for a route with a safe method, or ``None`` when the route does not use the
    cache. Every ``cache_*`` keyword is checked, whether or not the route uses the cache."""
    _reject_unknown_keywords(route, attributes)
    if attributes.get("cache_invalidates") is not None:
        raise ValueError(
            f"cache_invalidates on route {route!r} has no effect on a safe method (RFC 9875 §3); "
            f"put it on the route that changes the data, and cache_groups here"
        )
    expiry = _seconds(route, "cache_expiry", attributes.get("cache_expiry"))
    enabled = check_flag(attributes.get("cache", False), f"cache on route {route!r}")
    vary, selections = _vary(route, attributes.get("cache_vary"), options)
    control = _control(route, attributes.get("cache_control"))
    stale_while_revalidate = _seconds(
        route, "cache_stale_while_revalidate", attributes.get("cache_stale_while_revalidate")
    )
    stale_if_error = _seconds(route, "cache_stale_if_error", attributes.get("cache_stale_if_error"))
    groups, max_age = attributes.get("cache_groups"), attributes.get("cache_max_age")
    group_names = None if groups is None else GroupNames(route, "cache_groups", groups)
    advertised = None if max_age is None else _seconds(route, "cache_max_age", max_age)
    if max_age is not None and expiry == 0:
        raise ValueError(
            f"cache_max_age on route {route!r} needs cache_expiry: it sets what the cache advertises "
            f"for the responses it keeps for cache_expiry seconds"
        )
    if advertised is not None and advertised > expiry:
        raise ValueError(
            f"cache_max_age on route {route!r} is {advertised}, more than cache_expiry ({expiry}): it is what "
            f"browsers and CDNs are told when they may keep a response for less time than this cache; "
            f"leave it out to advertise cache_expiry itself"
        )
    validate_variants = _validate_variants(route, attributes.get("cache_validate_variants", False), vary)
    if expiry == 0 and not enabled:
        if groups is not None:
            raise ValueError(f"cache_groups on route {route!r} needs cache_expiry or cache=True: nothing is stored")
        return None
    return RoutePolicy(
        route=route,
        expiry=expiry,
        standards_mode=expiry == 0 and enabled,
        vary=vary,
        control=control,
        stale_while_revalidate=stale_while_revalidate,
        stale_if_error=stale_if_error,
        successful_statuses=options.successful_statuses,
        max_body_size=options.max_body_size,
        options=options,
        groups=group_names,
        max_age=advertised,
        selections=selections,
        validate_variants=validate_variants,
    )


STORING_KEYWORDS = ("cache_expiry", "cache_max_age", "cache_stale_while_revalidate", "cache_stale_if_error")
"""Keywords about how long responses are kept, which mean nothing on a write."""
INERT_WITHOUT_STORING = ("cache_control", "cache_vary", "cache_stale_while_revalidate", "cache_stale_if_error")
"""Keywords that mean something only on a route that stores (``cache_expiry`` or ``cache=True``)."""


def advice(route: str, attributes: Mapping[str, object], stores: bool) -> list[str]:
    """What to tell the author of a route whose keywords are valid but do not do what they seem:
    caching keywords on a route that stores nothing, and other libraries' names for an expiry."""
    said = []
    inert = [keyword for keyword in INERT_WITHOUT_STORING if attributes.get(keyword) is not None]
    if inert and not stores:
        said.append(
            f"route {route!r} has {', '.join(inert)} but neither cache_expiry nor cache=True, so nothing is "
            f"cached: add cache_expiry=<seconds> (or cache=True when the handler sets its own Cache-Control)"
        )
    for keyword in attributes:
        suggestion = KEYWORD_ALIASES.get(keyword)
        if suggestion is not None and not keyword.startswith("cache"):
            said.append(f"route {route!r} has {keyword}, which chocs-cache does not read; did you mean {suggestion}?")
    return said


def _vary(
    route: str, value: object, options: MiddlewareOptions
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """``cache_vary`` as header names, and for those given as a mapping the values the route
    produces (a request is keyed by the best match among them, RFC 9110 §12.5)."""
    if value is None:
        return options.vary, ()
    where = f"cache_vary on route {route!r}"
    if not isinstance(value, Mapping):
        return validate_vary(value, where), ()
    names = validate_vary(list(value), where)
    selections = []
    for name, produced in zip(names, value.values()):
        if produced is None:
            continue
        if isinstance(produced, str):
            produced = (produced,)
        if (
            not isinstance(produced, (tuple, list))
            or not produced
            or not all(isinstance(item, str) and item.strip() for item in produced)
        ):
            raise TypeError(
                f"{where}: the values of {name} must be what the route produces, as a tuple of strings such as "
                f'("en", "de"), or None to vary on the raw header; got {produced!r}'
            )
        selections.append((name, tuple(item.strip() for item in produced)))
    return names, tuple(selections)


def validate_vary(value: object, where: str) -> tuple[str, ...]:
    """Header names from a tuple, list, set or one comma-separated string, lower-cased.

    ``where`` starts the error messages (``"cache_vary on route '/users'"``).
    """
    if isinstance(value, str):
        names: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, (tuple, list, set, frozenset)):
        names = list(value)
    else:
        raise TypeError(
            f"{where} must be header names as a tuple, list, set or string, got {value!r} ({type(value).__name__})"
        )
    if len(names) > 1 and all(isinstance(name, str) and len(name) == 1 for name in names):
        raise ValueError(
            f"{where} is a collection of single characters ({value!r}), which is what "
            f'set("accept-language") gives; write the header names as a tuple: '
            f'cache_vary=("accept-language",) or as one string: cache_vary="accept-language"'
        )
    result: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{where} must contain header names (str), got {name!r}")
        if name == ANY:
            raise ValueError(f'{where} cannot contain "*": a response that varies on everything is never stored')
        if not is_field_name(name):
            raise ValueError(f"{where} contains {name!r}, which is not a valid header name")
        if name.lower() not in result:
            result.append(name.lower())
    return tuple(result)


def _seconds(route: str, keyword: str, value: object) -> int:
    """A number of seconds, at most 2^31 (as a response's own lifetimes are, RFC 9111 §1.2.2)."""
    if value is None:
        return 0
    seconds = check_number(value, f"{keyword} on route {route!r}", unit="seconds", whole=True, minimum=0)
    return int(min(seconds, MAX_DELTA_SECONDS))


def _validate_variants(route: str, value: object, vary: tuple[str, ...]) -> bool:
    """``cache_validate_variants``: only for routes whose variants differ by content negotiation."""
    where = f"cache_validate_variants on route {route!r}"
    if not check_flag(value, where):
        return False
    others = [name for name in vary if name not in NEGOTIATION_FIELDS]
    if others:
        raise ValueError(
            f"{where} needs a cache_vary of Accept fields only ({', '.join(sorted(NEGOTIATION_FIELDS))}); "
            f"it varies on {', '.join(others)}, which may identify a user: a response stored for one of them "
            f"must never be confirmed for another"
        )
    return True


def _control(route: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    if value.lower() not in CACHE_CONTROL_VALUES:
        raise ValueError(f'cache_control on route {route!r} must be "public" or "private", got {value!r}')
    return value.lower()


KEYWORD_ALIASES = {
    "cache_ttl": "cache_expiry",
    "cache_timeout": "cache_expiry",
    "cache_expires": "cache_expiry",
    "cache_seconds": "cache_expiry",
    "cache_maxage": "cache_max_age",
    "cache_tags": "cache_groups",
    "cache_keys": "cache_vary",
    "timeout": "cache_expiry",
    "ttl": "cache_expiry",
    "max_age": "cache_expiry",
    "expiry": "cache_expiry",
    "expires": "cache_expiry",
    "invalidates": "cache_invalidates",
    "invalidate": "cache_invalidates",
    "cache_invalidate": "cache_invalidates",
    "groups": "cache_groups",
    "tags": "cache_groups",
    "vary": "cache_vary",
    "stale_while_revalidate": "cache_stale_while_revalidate",
    "stale_if_error": "cache_stale_if_error",
}
"""Other libraries' names (Flask-Caching's ``timeout``, ...) and near misses, with ours."""


def _reject_unknown_keywords(route: str, attributes: Iterable[str]) -> None:
    for keyword in attributes:
        if keyword.startswith("cache") and keyword not in ROUTE_KEYWORDS:
            close = KEYWORD_ALIASES.get(keyword) or next(
                iter(difflib.get_close_matches(keyword, ROUTE_KEYWORDS, n=1)), None
            )
            known = ", ".join(ROUTE_KEYWORDS)
            hint = f"; did you mean {close}?" if close else f"; known keywords: {known}"
            raise ValueError(f"unknown keyword {keyword} on route {route!r}{hint}")
