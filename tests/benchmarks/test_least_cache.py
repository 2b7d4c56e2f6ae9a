"""The yardstick of ``make bench``'s miss row (``benchmarks/least_cache.py``) is a cache: what it
gives back is what the handler answered, so the floor it measures is a floor of a working cache."""

from __future__ import annotations

import pytest
from chocs import Application, HttpRequest, HttpResponse, HttpStatus, create_wsgi_handler
from webtest import TestApp

from benchmarks.least_cache import LeastCache
from benchmarks.payload import BODY


@pytest.mark.parametrize("compress", [False, True])
def test_a_second_request_for_a_path_is_given_the_first_answer_without_the_handler(compress: bool) -> None:
    app = Application(LeastCache(compress=compress))
    calls: list[str] = []

    @app.get("/items/{item_id}")
    def item(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return HttpResponse(BODY, HttpStatus.OK, headers={"content-type": "application/json"})

    client = TestApp(create_wsgi_handler(app), lint=False)  # chocs writes a status without its reason
    first, second, other = client.get("/items/1"), client.get("/items/1"), client.get("/items/2")

    assert calls == ["/items/1", "/items/2"]
    for response in (first, second, other):
        assert response.status_int == 200
        assert response.body == BODY
        assert response.headers["content-type"] == "application/json"
