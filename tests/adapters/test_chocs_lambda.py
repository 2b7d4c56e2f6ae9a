"""The middleware behind chocs' AWS Lambda adapter: no WSGI environ, same caching."""

from __future__ import annotations

from typing import Any

from chocs import HttpRequest, HttpResponse, Route
from chocs.middleware import MiddlewarePipeline
from chocs.serverless.aws import AwsServerlessFunction

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage


def api_gateway_event(method: str, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": path,
        "headers": {"Host": "api.example", **(headers or {})},
        "pathParameters": {"id": path.rsplit("/", 1)[-1]},
        "body": "",
        "requestContext": {"requestId": "r-1", "stage": "prod"},
    }


def test_a_lambda_function_is_cached_and_invalidated_like_a_wsgi_route() -> None:
    calls: list[str] = []
    storage = CollectableInMemoryCacheStorage()

    def read(request: HttpRequest) -> HttpResponse:
        calls.append("read")
        return HttpResponse(f"item {request.path_parameters['id']}", headers={"content-type": "text/plain"})

    def write(request: HttpRequest) -> HttpResponse:
        return HttpResponse("", 204)

    reader = AwsServerlessFunction(
        read, Route("/items/{id}", {"cache_expiry": 60}), MiddlewarePipeline([CacheMiddleware(storage)])
    )
    writer = AwsServerlessFunction(
        write, Route("/items/{id}", {"cache": True}), MiddlewarePipeline([CacheMiddleware(storage)])
    )

    miss = reader(api_gateway_event("GET", "/items/1"), {})
    hit = reader(api_gateway_event("GET", "/items/1"), {})
    not_modified = reader(api_gateway_event("GET", "/items/1", {"If-None-Match": hit["headers"]["etag"]}), {})
    writer(api_gateway_event("PATCH", "/items/1"), {})
    after = reader(api_gateway_event("GET", "/items/1"), {})

    assert (miss["statusCode"], miss["body"]) == (200, "item 1")
    assert hit["headers"]["cache-status"].startswith("chocs-cache; hit")
    assert hit["body"] == "item 1"
    assert not_modified["statusCode"] == 304
    assert after["headers"]["cache-status"].startswith("chocs-cache; fwd=uri-miss")
    assert calls == ["read", "read"]
