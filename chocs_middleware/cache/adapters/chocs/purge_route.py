"""``CacheMiddleware.add_purge_route``: purges over HTTP, for a deploy hook, a CMS webhook or
another service (docs/invalidation.md, "A purge endpoint"). Off until the app adds it.

A ``POST`` route like any other: the app's own authentication middleware may guard it instead of
the token. Its answers are never stored (a ``POST``), and say ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from chocs import Application, HttpRequest, HttpResponse, HttpStatus

from ...error import StorageFault
from ...operations.purge_request import BadPurgeRequest, PurgeRequest, Purges, run

__all__ = ["MIN_TOKEN_BYTES", "add_purge_route"]

logger = logging.getLogger("chocs_middleware.cache")
MIN_TOKEN_BYTES = 16


def add_purge_route(app: Application, path: str, purges: Purges, token: str | bytes | None) -> None:
    """Register ``POST path`` on ``app``: a JSON purge request (``PurgeRequest``) with
    ``Authorization: Bearer <token>`` (401 without, 403 with another; compared in constant
    time), answered with what was removed. ``token=None``: no token, for an app whose own
    middleware guards the route."""
    secret = _checked_token(token)

    @app.post(path)
    def purge_endpoint(request: HttpRequest) -> HttpResponse:
        if secret is not None:
            refused = _refused(request, secret)
            if refused is not None:
                return refused
        try:
            asked = PurgeRequest.from_json(json.loads(request.body.getvalue() or b"null"))
            return _answer(HttpStatus.OK, run(asked, purges))
        except (BadPurgeRequest, ValueError, TypeError) as error:  # JSON, fields, or a purge refused
            return _answer(HttpStatus.BAD_REQUEST, {"error": str(error)})
        except StorageFault as error:
            logger.error("cache purge endpoint %s: the storage failed: %s", path, error)
            return _answer(HttpStatus.SERVICE_UNAVAILABLE, {"error": f"the storage failed: {error}"})


def _checked_token(token: str | bytes | None) -> bytes | None:
    if token is None:
        return None
    secret = token.encode() if isinstance(token, str) else token
    if not isinstance(secret, bytes) or len(secret) < MIN_TOKEN_BYTES:
        raise ValueError(
            f"add_purge_route needs a token of at least {MIN_TOKEN_BYTES} bytes (such as secrets.token_urlsafe(32)), "
            f"or token=None when the app's own middleware guards the route"
        )
    return secret


def _refused(request: HttpRequest, secret: bytes) -> HttpResponse | None:
    """401 without a bearer token, 403 with another one; ``None`` with the right one."""
    scheme, _, presented = str(request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        response = _answer(HttpStatus.UNAUTHORIZED, {"error": "a bearer token is required"})
        response.headers.set("www-authenticate", "Bearer")
        return response
    if not hmac.compare_digest(presented.strip().encode(), secret):
        return _answer(HttpStatus.FORBIDDEN, {"error": "the token is not the purge endpoint's"})
    return None


def _answer(status: HttpStatus, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(
        json.dumps(body), status, headers={"content-type": "application/json", "cache-control": "no-store"}
    )
