"""A chocs reverse proxy whose every route goes through ``CacheMiddleware``: what ``make
conformance`` puts in front of the test suite's origin server.

One catch-all route, ``cache=True`` with declared keying, default middleware options, for every
method chocs knows; its handler forwards the request to ``ORIGIN`` (``http://127.0.0.1:<port>``)
and answers with what came back. ``python -m conformance.proxy`` serves it through waitress on ``PORT`` (127.0.0.1).
Extra middleware options come as JSON in ``CACHE_OPTIONS`` (``{"targeted_fields": [...]}``).
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any
from urllib.parse import urlsplit

import waitress
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler

from chocs_middleware.cache import CacheMiddleware, InMemoryCacheStorage

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    )
)
"""Fields about one connection or one proxy, not the message: a proxy does not forward them (RFC
9110 §7.6.1); a WSGI application may not send them at all (PEP 3333)."""
_STATUSES = {member.value[0]: member for member in HttpStatus}


def end_to_end(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``fields`` without hop-by-hop ones, nor those their ``Connection`` names (RFC 9110 §7.6.1)."""
    named = {
        name.strip().lower() for field, value in fields if field.lower() == "connection" for name in value.split(",")
    }
    return [(name, value) for name, value in fields if name.lower() not in HOP_BY_HOP | named]


def build_app(origin: str, options: dict[str, Any]) -> Application:
    target = urlsplit(origin)
    app = Application(CacheMiddleware(InMemoryCacheStorage(max_items=100_000), **options))

    # Declared keying: a reverse proxy forwards every header and the whole query string to its
    # origin, so observed keying would key each response on all of them (every request its own
    # entry). The origin says what matters with Vary, as the suite's tests expect of a proxy.
    @app.any("/*", cache=True, cache_keying="declared")
    def forward(request: HttpRequest) -> HttpResponse:
        query = str(request.query_string)
        body = request.body.getvalue()
        # chocs gives every request a Content-Type; forward it only with a body.
        fields = [(name, value) for name, value in request.headers.items() if name != "content-type" or body]
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        try:
            path = request.path + (f"?{query}" if query else "")
            connection.putrequest(str(request.method), path, skip_host=True, skip_accept_encoding=True)
            for name, value in end_to_end(fields):
                connection.putheader(name, value)
            connection.putheader("content-length", str(len(body)))
            connection.endheaders(body)
            answer = connection.getresponse()
            content = answer.read()
        finally:
            connection.close()
        response = HttpResponse(content)
        response.headers._headers.clear()
        for name, value in end_to_end(answer.getheaders()):
            if name.lower() != "content-length":
                response.headers.set(name, value)
        # chocs builds only the statuses of its enum; the proxy passes any other through as it came.
        status: Any = _STATUSES.get(answer.status) or answer.status
        response.status_code = status
        return response

    return app


def main() -> None:
    app = build_app(os.environ["ORIGIN"], json.loads(os.environ.get("CACHE_OPTIONS", "{}")))
    waitress.serve(create_wsgi_handler(app), host="127.0.0.1", port=int(os.environ["PORT"]), threads=32, _quiet=True)


if __name__ == "__main__":
    main()
