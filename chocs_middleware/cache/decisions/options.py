"""``CacheMiddleware``'s options: each declared once here, with its default, its check and what it does.

``CacheMiddleware(storage, **options)`` takes exactly these names; ``MiddlewareOptions.checked``
turns what it was given into checked values, or raises an error that names the option and says
what to write instead. The README's list of options is checked against these declarations
(``tests/decisions/test_options.py``). Everything here is plain values: no chocs, no storage.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..common.checks import check_flag, check_number
from ..semantics.vary import ANY, is_field_name
from .observed import check_keying

__all__ = ["CACHEABLE_METHODS", "DEFAULT_OPTIONS", "MiddlewareOptions", "check_storage_instance", "validate_vary"]

CACHEABLE_METHODS = frozenset(("GET", "HEAD"))
"""The only methods whose responses the cache may answer (its keys do not include the method)."""


def _declared(check: Callable[[object, str], Any], doc: str) -> dict[str, Any]:
    """An option's declaration beside its default: how it is checked, and what it does."""
    return {"check": check, "doc": doc}


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


def _safe_methods(methods: object, where: str) -> frozenset[str]:
    listed = [methods] if isinstance(methods, str) else methods
    if not isinstance(listed, Iterable):
        raise TypeError(f"{where} must be method names such as ('GET', 'HEAD'), got {methods!r}")
    names = frozenset(str(method).upper() for method in listed)  # HttpMethod members print as their name
    if not names <= CACHEABLE_METHODS:
        other = ", ".join(sorted(names - CACHEABLE_METHODS))
        raise ValueError(
            f"{where} may only contain GET and HEAD (responses to other methods are never served from the "
            f"cache), got {other}"
        )
    return names


def _status_codes(statuses: object, where: str) -> frozenset[int]:
    if not isinstance(statuses, Iterable) or isinstance(statuses, (str, bytes)):
        raise TypeError(f"{where} must hold statuses, such as (200, 201), got {statuses!r}")
    codes = []
    for status in statuses:
        # An int, or anything that converts to one as chocs' HttpStatus members do; not text or fractions.
        if isinstance(status, (bool, str, bytes, float)) or not hasattr(status, "__int__"):
            raise TypeError(f"{where} must hold statuses, got {status!r}")
        code = int(status)
        if not 200 <= code <= 499:
            raise ValueError(
                f"{where} holds {code}: only statuses from 200 to 499 can be stored on cache_expiry routes (a 5xx "
                f"never is; a handler that states its own freshness on a cache=True route is the way to store one)"
            )
        codes.append(code)
    return frozenset(codes)


def _targeted_fields(value: object, where: str) -> tuple[str, ...]:
    """Field names as a tuple, list or set; one string is refused (a typo there silently targets nothing)."""
    if isinstance(value, str):
        raise TypeError(
            f"{where} must be field names as a tuple, got the string {value!r}; write targeted_fields=({value!r},)"
        )
    return validate_vary(value, where)


def _bytes(value: object, where: str) -> int:
    return int(check_number(value, where, unit="bytes", whole=True, minimum=0))


def _seconds(value: object, where: str) -> int:
    return int(check_number(value, where, unit="seconds", whole=True, minimum=0))


def _optional_seconds(value: object, where: str) -> int | None:
    return None if value is None else _seconds(value, where)


def _timeout(value: object, where: str) -> float:
    return float(check_number(value, where, unit="seconds", whole=False, minimum=0, above=True))


def _fraction(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be a fraction such as 0.1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{where} must be a fraction from 0 to 1, got {value}")
    return float(value)


def _canonical_host(value: object, where: str) -> Callable[[str], str] | None:
    """``None``, a host name (every request is stored under it), or a function of the request's host."""
    if value is None:
        return None
    if isinstance(value, str):
        name = value.strip().lower()
        if not name or any(char.isspace() or char in "/?#@" for char in name):
            raise ValueError(f"{where} must be a host name such as 'api.example.com', got {value!r}")
        return lambda _host: name
    if callable(value):
        function: Callable[[str], str] = value
        return function
    raise TypeError(f"{where} must be a host name or a function of the request's host, got {value!r}")


def _secret(value: object, where: str) -> bytes | None:
    """The secret as bytes (a ``str`` is UTF-8 encoded); ``None`` stays ``None`` (a random one is made)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{where} must be bytes or a str, got {type(value).__name__}")
    if len(value) < 16:
        raise ValueError(f"{where} must be at least 16 bytes: it keys every per-user entry")
    return bytes(value)


def _clock(value: object, where: str) -> Clock:
    if not (callable(getattr(value, "time", None)) and callable(getattr(value, "monotonic", None))):
        raise TypeError(f"{where} must have time() and monotonic() (chocs_middleware.cache.clock), got {value!r}")
    clock: Clock = value  # type: ignore[assignment]
    return clock


@dataclass(frozen=True)
class MiddlewareOptions:
    """Every option of ``CacheMiddleware``, its default, and what it does. The first three are
    1.0's and may be given by position; the others only by name."""

    cache_vary: tuple[str, ...] = field(
        default=("accept", "accept-language"),
        metadata=_declared(validate_vary, "the request headers that select a variant, for routes without cache_vary"),
    )
    safe_methods: frozenset[str] = field(
        default=CACHEABLE_METHODS,
        metadata=_declared(_safe_methods, "the methods answered from the cache (GET and HEAD only)"),
    )
    successful_responses: frozenset[int] = field(
        default=frozenset((200, 201)),
        metadata=_declared(_status_codes, "the statuses stored on cache_expiry routes (200 to 499)"),
    )
    max_body_size: int = field(default=1024 * 1024, metadata=_declared(_bytes, "larger bodies are not stored (bytes)"))
    honour_request_cache_control: bool = field(
        default=False,
        metadata=_declared(
            check_flag,
            "obey the request's Cache-Control (no-cache, max-age, min-fresh, no-store, only-if-cached); off, as in "
            "Varnish and nginx, since any client could then make the handler run on every request",
        ),
    )
    lock_timeout: float = field(
        default=5.0,
        metadata=_declared(
            _timeout, "seconds concurrent misses for one key wait for the one caller that runs the handler"
        ),
    )
    keep_stale: int = field(
        default=3600,
        metadata=_declared(
            _seconds, "seconds a stale response is kept so that it can be revalidated with a 304 (0: forgotten)"
        ),
    )
    targeted_fields: tuple[str, ...] = field(
        default=("chocs-cache-control",),
        metadata=_declared(
            _targeted_fields,
            "targeted cache-control fields this cache obeys, the first present wins (RFC 9213); add "
            "cdn-cache-control to obey what the app tells CDNs",
        ),
    )
    heuristic_fraction: float = field(
        default=0.0,
        metadata=_declared(
            _fraction,
            "on cache=True routes, a response without explicit freshness is fresh for this fraction of the time "
            "since its Last-Modified (RFC 9111 §4.2.2; 0: off)",
        ),
    )
    heuristic_max_lifetime: int = field(
        default=86400, metadata=_declared(_seconds, "the most heuristic freshness gives (seconds)")
    )
    background_revalidation: bool = field(
        default=True,
        metadata=_declared(
            check_flag,
            "refresh stale-while-revalidate responses in the background (False: inline, for platforms that freeze "
            "threads between requests, such as AWS Lambda)",
        ),
    )
    canonical_host: Callable[[str], str] | None = field(
        default=None,
        metadata=_declared(
            _canonical_host,
            "the host responses are stored under, for an app served under several names: a name, or a function of "
            "the request's host (default: each host has its own entries)",
        ),
    )
    secret: bytes | None = field(
        default=None,
        metadata=_declared(
            _secret,
            "the key (16 bytes or more) of the HMAC that turns credentials into part of a per-user entry's id; give "
            "every process the same one (default: a random one of this process's own)",
        ),
    )
    purge_patterns: bool = field(
        default=False,
        metadata=_declared(
            check_flag,
            "list each stored response under its route's template and its path's first three ancestors, so that "
            'purge("/users/{user_id}") and purge_prefix("/reports/") find them (a few more listings per response)',
        ),
    )
    soft_purge_window: int | None = field(
        default=None,
        metadata=_declared(
            _optional_seconds,
            "seconds a soft-purged response may still be served stale while it is refreshed (None: its own "
            "stale-while-revalidate and stale-if-error windows)",
        ),
    )
    keying: str = field(
        default="observed",
        metadata=_declared(
            check_keying,
            'how routes without cache_keying key their responses: "observed" (on the route\'s cache_vary, the '
            'response\'s Vary and every header, cookie and query parameter the handler read) or "declared" (on '
            "cache_vary, the response's Vary and the whole query string)",
        ),
    )
    debug: bool = field(
        default=False,
        metadata=_declared(
            check_flag,
            "Cache-Status names the inputs a stored response is keyed on (key=...), on the miss that stores it, "
            "and each stored response keeps the request values it was stored for, and its groups, for inspect",
        ),
    )
    clock: Clock = field(
        default=SYSTEM_CLOCK, metadata=_declared(_clock, "where the cache reads the time; tests pass one they can move")
    )
    secret_key: bytes = field(default=b"", repr=False)
    """Not an option: the HMAC key per-user entries are keyed with, ``secret`` or a random one."""

    @classmethod
    def checked(cls, **given: object) -> MiddlewareOptions:
        """The options given (the others at their defaults), checked; an unknown name, or a value of
        the wrong kind, raises an error that names it."""
        known = {option.name: option for option in fields(cls) if "check" in option.metadata}
        for name in given:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else f"; its options: {', '.join(known)}"
                raise TypeError(f"CacheMiddleware got an unknown option {name}{hint}")
        values = {
            name: option.metadata["check"](given.get(name, option.default), f"CacheMiddleware({name}=...)")
            for name, option in known.items()
        }
        secret = values["secret"]
        return cls(**values, secret_key=secret if secret is not None else secrets.token_bytes(32))


DEFAULT_OPTIONS = MiddlewareOptions()
"""The defaults, as declared (``secret_key`` empty: each checked set makes its own)."""


def check_storage_instance(storage: object, is_storage: bool) -> None:
    """A storage instance, or the error that says what was passed instead (``is_storage``: it has
    ``get`` and ``set``, as the storage protocol says)."""
    if isinstance(storage, type):
        raise TypeError(
            f"CacheMiddleware needs a storage instance, got the class {storage.__name__}; "
            f"write CacheMiddleware({storage.__name__}())"
        )
    if not is_storage:
        raise TypeError(
            f"CacheMiddleware needs a storage with get(item_id) and set(item) methods, "
            f"got {storage!r} ({type(storage).__name__})"
        )
