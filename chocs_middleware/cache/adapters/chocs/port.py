"""The port, for chocs: what the flow asks of the framework (``flow/port.py``); the
``RequestTarget`` of a chocs request is built by the middleware.

``tests/adapters/`` pins every chocs detail this relies on, so a chocs upgrade that changes one
shows there first.
"""

from __future__ import annotations

from chocs import HttpRequest, HttpResponse

from ...decisions.values import HeaderFields, StoredResponse
from ...flow.port import Called, Native, Validators
from . import observing, responses

__all__ = ["CHOCS", "ChocsPort"]

_PRECONDITION_FIELDS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range")


class ChocsPort:
    """``flow.port.Port`` for chocs: its requests, ``next`` handlers and ``HttpResponse``."""

    def call(
        self, request: Native, next: Native, validators: Validators | None, body_limit: int, observe: bool = False
    ) -> Called[HttpResponse]:
        if not observe:
            response = next(request) if validators is None else self._asking(request, next, validators)
            return Called(response, responses.capture(response, body_limit))
        recorder, originals = observing.observe(request)
        try:
            response = next(request) if validators is None else self._asking(request, next, validators)
        finally:
            inputs = observing.give_back(request, recorder, originals)
        return Called(response, responses.capture(response, body_limit), inputs)

    @staticmethod
    def _asking(request: HttpRequest, next: Native, validators: Validators) -> HttpResponse:
        """The handler's answer to a conditional request about a stored representation: its
        ``If-None-Match`` / ``If-Modified-Since`` carry the stored validators (RFC 9111 §4.3.1);
        the client's own preconditions are set aside, and put back afterwards for the cache to
        evaluate against whatever representation is current then."""
        fields = request.headers._headers
        saved = {name: fields.pop(name) for name in _PRECONDITION_FIELDS if name in fields}
        if validators.etags:
            fields["if-none-match"] = [", ".join(validators.etags)]
        if validators.last_modified:
            fields["if-modified-since"] = [validators.last_modified]
        try:
            response: HttpResponse = next(request)
            return response
        finally:
            for name in _PRECONDITION_FIELDS:
                fields.pop(name, None)
            fields.update(saved)

    # The port's answers are the builders themselves: a hit goes through no frame more.
    stored = staticmethod(responses.build_response)
    partial = staticmethod(responses.build_partial)
    not_modified = staticmethod(responses.build_not_modified)
    precondition_failed = staticmethod(responses.build_precondition_failed)
    gateway_timeout = staticmethod(responses.build_gateway_timeout)
    add_fields = staticmethod(responses.add_fields)

    def refreshed(
        self, stored: StoredResponse, fields: HeaderFields, confirmation: Called[HttpResponse]
    ) -> Called[HttpResponse]:
        response = responses.build_refreshed(stored, fields, confirmation.response)
        return Called(response, responses.capture(response, len(stored.body)), confirmation.inputs)


CHOCS = ChocsPort()
