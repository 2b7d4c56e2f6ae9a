"""The least a response cache can do on chocs, as a yardstick for the miss row of ``make bench``.

``LeastCache`` keys a response by its path alone and keeps its status, fields and body as the
handler gave them, in a dict that never forgets: no ``Vary``, no validators, no freshness, no
``Cache-Control``, no protection against stampedes, no invalidation, no bound. Nobody should run
it; what a miss costs with it is the floor under what any cache on chocs can cost, and with
``compress`` (the body through zlib at level 1, what keeping a text body in less memory takes)
the floor under a cache that meets ``make bench``'s memory targets (zlib set as this project's
``entries/compression.py`` sets it: an 8 KiB window and a smaller hash, the cheapest we measured).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from chocs import HttpRequest, HttpResponse, HttpStatus
from chocs.middleware import Middleware, MiddlewareHandler

__all__ = ["LeastCache"]


class LeastCache(Middleware):
    """A miss stores the response under its path; a later request for the path is given it."""

    def __init__(self, compress: bool) -> None:
        self._compress = compress
        self._kept: dict[str, tuple[HttpStatus, dict[str, str | Sequence[str]], bytes]] = {}

    def handle(self, request: HttpRequest, next: MiddlewareHandler) -> HttpResponse:
        kept = self._kept.get(request.path)
        if kept is not None:
            status, kept_fields, kept_body = kept
            body = zlib.decompress(kept_body) if self._compress else kept_body
            return HttpResponse(body, status, headers=kept_fields)
        response = next(request)
        response.body.seek(0)
        body = response.body.read()
        response.body.seek(0)
        fields: dict[str, str | Sequence[str]] = dict(response.headers.items())
        self._kept[request.path] = (response.status_code, fields, _compressed(body) if self._compress else body)
        return response


def _compressed(body: bytes) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 13, 6)
    return compressor.compress(body) + compressor.flush()
