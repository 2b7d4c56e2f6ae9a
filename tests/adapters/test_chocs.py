"""Pins the chocs 1.6 behaviour the chocs adapter relies on (docs/design.md, "chocs facts"): an upgrade shows here."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from chocs import HttpHeaders, HttpResponse, HttpStatus

import chocs_middleware.cache
from chocs_middleware.cache.adapters.chocs import responses
from chocs_middleware.cache.adapters.chocs.responses import build_response, capture
from chocs_middleware.cache.decisions.values import StoredResponse


def test_chocs_keeps_headers_as_a_dict_of_lower_case_names_to_lists() -> None:
    headers = HttpHeaders({"Content-Type": "text/plain"})
    headers.set("X-Multi", "a")
    headers.set("x-multi", "b")

    assert headers._headers == {"content-type": ["text/plain"], "x-multi": ["a", "b"]}


def test_a_str_value_is_sent_one_character_per_line_by_chocs_and_once_after_capture() -> None:
    response = HttpResponse("x")
    response.headers["X-Thing"] = "abc"
    assert list(response.headers.items())[-3:] == [("x-thing", "a"), ("x-thing", "b"), ("x-thing", "c")]

    fields = capture(response, body_limit=0).fields

    assert ("x-thing", ("abc",)) in fields
    assert [line for line in response.headers.items() if line[0] == "x-thing"] == [("x-thing", "abc")]


def test_a_built_response_has_the_stored_parts_and_its_own_header_lists() -> None:
    stored = StoredResponse(201, (("content-type", ("application/json",)),), b"{}", 0.0, 60)

    first = build_response(stored, 3, "chocs-cache; hit")
    first.headers.set("content-type", "changed")
    second = build_response(stored, 4, "chocs-cache; hit", with_body=False)

    assert first.status_code is HttpStatus.CREATED
    assert first.body.getvalue() == b"{}"
    assert list(second.headers.items()) == [
        ("content-type", "application/json"),
        ("content-length", "2"),  # the stored body's, for HEAD too
        ("age", "4"),
        ("cache-status", "chocs-cache; hit"),
    ]
    assert second.body.getvalue() == b""


def test_responses_are_built_without_chocs_constructor_while_that_gives_the_same_state() -> None:
    assert responses._builds_the_same_state()
    assert responses._new_response is responses._direct_response


def wsgi_output(response: HttpResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    from chocs import Application, create_wsgi_handler

    app = Application()

    @app.get("/r")
    def route(request: object) -> HttpResponse:
        return response

    captured: list[tuple[str, list[tuple[str, str]]]] = []
    body = create_wsgi_handler(app)(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/r"}, lambda status, headers: captured.append((status, headers))
    ).read()
    return captured[0][0], captured[0][1], body


def test_both_ways_of_building_a_response_send_the_same_bytes() -> None:
    for fields in ({"content-type": ["application/json"], "etag": ['"x"']}, {"etag": ['"x"']}):
        direct = responses._direct_response(HttpStatus.NOT_MODIFIED, dict(fields), b"")
        public = responses._public_response(HttpStatus.NOT_MODIFIED, dict(fields), b"")
        assert wsgi_output(direct) == wsgi_output(public)
    direct = responses._direct_response(HttpStatus.OK, {"content-type": ["text/plain"]}, b"body")
    public = responses._public_response(HttpStatus.OK, {"content-type": ["text/plain"]}, b"body")
    assert wsgi_output(direct) == wsgi_output(public) == ("200", [("content-type", "text/plain")], b"body")


def test_changing_a_response_built_from_storage_leaves_the_stored_entry_alone() -> None:
    stored = StoredResponse(200, (("vary", ("accept", "accept-language")),), b"{}", 0.0, 60)

    response = build_response(stored, 0, "chocs-cache; hit")
    response.headers.set("vary", "origin")
    response.headers.override("cache-status", "changed")
    response.headers["x-new"] = ["1"]
    read = response.headers["vary"]

    assert read == ["accept", "accept-language", "origin"]
    assert stored.headers == (("vary", ("accept", "accept-language")),)
    assert dict(stored.sent_fields)["vary"] == ("accept", "accept-language")
    assert list(build_response(stored, 0, "chocs-cache; hit").headers.items())[:2] == [
        ("vary", "accept"),
        ("vary", "accept-language"),
    ]


def test_a_response_built_from_storage_is_sent_like_any_chocs_response() -> None:
    from chocs.serverless.aws import format_response_to_aws

    stored = StoredResponse(200, (("vary", ("accept", "origin")), ("etag", ('"x"',))), b"{}", 0.0, 60)
    response = build_response(stored, 2, "chocs-cache; hit")

    assert wsgi_output(response) == (
        "200",
        [
            ("vary", "accept"),
            ("vary", "origin"),
            ("etag", '"x"'),
            ("content-length", "2"),
            ("age", "2"),
            ("cache-status", "chocs-cache; hit"),
        ],
        b"{}",
    )
    lambda_response = format_response_to_aws({"multiValueHeaders": {}}, build_response(stored, 2, "hit"))
    assert json.loads(json.dumps(lambda_response))["multiValueHeaders"]["vary"] == ["accept", "origin"]


def test_only_the_adapter_imports_chocs() -> None:
    """The boundary of docs/design.md ("Layers"), kept: ``testing.py`` is the one other module, as it
    drives a real WSGI app for storage authors."""
    package = Path(chocs_middleware.cache.__file__).parent
    importers = set()
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(name == "chocs" or name.startswith("chocs.") for name in names):
                importers.add(module.relative_to(package).as_posix())

    assert importers - {"testing.py"} and all(
        name.startswith("adapters/chocs/") for name in importers - {"testing.py"}
    ), importers
