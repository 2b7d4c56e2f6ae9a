"""The port: everything the flow needs from a web framework, and nothing else.

The flow (``read.py``, ``write.py``) never touches a framework's request or response: it passes
the framework's own request and next handler back to the port when the handler must run, and
asks the port for every response it sends. A framework's adapter (``adapters/chocs/``) implements
``Port`` once; a second framework would implement it again and leave the flow as it is.
"""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from ..decisions.observed import ReadInputs
from ..decisions.values import HeaderFields, StoredResponse, UpstreamResponse
from ..semantics.ranges import ByteRange, Unsatisfiable

__all__ = ["Called", "Port", "Validators"]

Response = TypeVar("Response")
Native = Any
"""The framework's own request, or its next handler: the flow only hands them back to the port."""


class Validators(NamedTuple):
    """What a conditional request to the handler asks about (RFC 9111 §4.3.1)."""

    etags: tuple[str, ...]
    """``If-None-Match``: the entity tags of the stored responses offered."""
    last_modified: str | None
    """``If-Modified-Since``: the stale response's ``Last-Modified``."""


class Called(Generic[Response]):
    """The handler's answer: the framework's response (which the flow may add fields to and send)
    and the same answer as plain values, read once."""

    __slots__ = ("inputs", "response", "upstream")

    def __init__(self, response: Response, upstream: UpstreamResponse, inputs: ReadInputs | None = None) -> None:
        self.response = response
        self.upstream = upstream
        self.inputs = inputs
        """What the handler read of its request, when it was observed (``decisions/observed.py``)."""


class Port(Protocol[Response]):
    """What the flow asks of a framework, for its ``Response`` type."""

    def call(
        self, request: Native, next: Native, validators: Validators | None, body_limit: int, observe: bool = False
    ) -> Called[Response]:
        """Run the handler for ``request`` (through ``next``). With ``validators``, ask it whether a
        stored representation is current instead: the client's own preconditions are set aside
        while it runs, and put back. The body is read into ``upstream`` only up to ``body_limit``.
        With ``observe``, record which headers, cookies and query parameters the handler reads
        (``Called.inputs``)."""

    def stored(self, stored: StoredResponse, age: int, cache_status: str, with_body: bool) -> Response:
        """A response with the stored status, headers and body, its ``Content-Length`` (for ``HEAD``
        too), ``Age`` and ``Cache-Status``."""

    def partial(
        self, stored: StoredResponse, selection: ByteRange | Unsatisfiable, age: int, cache_status: str
    ) -> Response:
        """A 206 with the selected bytes of the stored body, or a 416 (RFC 9110 §14.4, §15.5.17)."""

    def not_modified(self, fields: HeaderFields, extra: dict[str, list[str]]) -> Response:
        """A 304 with ``fields`` (those a 304 carries: ``values.not_modified_fields``) and ``extra``."""

    def precondition_failed(self, decided_by: str, extra: dict[str, list[str]]) -> Response:
        """A 412 whose short body names the precondition that failed."""

    def gateway_timeout(self, cache_status: str) -> Response:
        """A 504 for ``only-if-cached`` when nothing usable is stored (RFC 9111 §5.2.1.7)."""

    def refreshed(
        self, stored: StoredResponse, fields: HeaderFields, confirmation: Called[Response]
    ) -> Called[Response]:
        """The stored response freshened by the handler's 304 ``confirmation``, as a full answer:
        the stored status and body, ``fields`` (``values.refreshed_fields``: RFC 9111 §4.3.4), and
        whatever else of the 304 the framework carries apart from its fields (cookies)."""

    def add_fields(self, response: Response, fields: HeaderFields) -> Response:
        """``response`` with ``fields`` set (each replacing the field of that name); the names are
        the cache's own, in lower case."""
