"""Middleware options: each declared once (``MiddlewareOptions``), checked with a clear message, and
listed in the README as declared."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from chocs import HttpMethod, HttpStatus

from chocs_middleware.cache.clock import SYSTEM_CLOCK
from chocs_middleware.cache.decisions.options import DEFAULT_OPTIONS, MiddlewareOptions
from support.processes import ROOT

DEFAULTS: dict[str, Any] = {"max_body_size": 10, "honour_request_cache_control": False, "lock_timeout": 1.0}


def options(**changes: Any) -> MiddlewareOptions:
    settings = {
        "cache_vary": ("accept",),
        "safe_methods": (HttpMethod.GET, HttpMethod.HEAD),
        "successful_responses": (HttpStatus.OK,),
        **DEFAULTS,
        **changes,
    }
    return MiddlewareOptions.checked(**settings)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"max_body_size": -1}, ValueError, "CacheMiddleware(max_body_size=...) must be 0 or more bytes"),
        ({"max_body_size": 1.5}, ValueError, "CacheMiddleware(max_body_size=...) must be whole bytes"),
        ({"lock_timeout": 0}, ValueError, "CacheMiddleware(lock_timeout=...) must be more than 0 seconds"),
        ({"lock_timeout": True}, TypeError, "CacheMiddleware(lock_timeout=...) must be a number of seconds"),
        ({"honour_request_cache_control": "yes"}, TypeError, "must be True or False"),
        ({"successful_responses": ("200",)}, TypeError, "must hold statuses"),
        ({"safe_methods": (HttpMethod.POST,)}, ValueError, "may only contain GET and HEAD"),
    ],
)
def test_middleware_options_are_checked_with_a_clear_message(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        options(**changes)

    assert message in str(raised.value)


@pytest.mark.parametrize("safe_methods", [("GET", "HEAD"), ["GET"], "GET", (HttpMethod.GET,)])
def test_safe_methods_may_be_given_as_names(safe_methods: Any) -> None:
    assert options(safe_methods=safe_methods).safe_methods <= {"GET", "HEAD"}


def test_statuses_may_be_ints_or_chocs_statuses() -> None:
    assert options(successful_responses=(200, HttpStatus.CREATED)).successful_responses == {200, 201}


def test_an_unknown_option_is_an_error_naming_the_one_meant() -> None:
    with pytest.raises(TypeError, match="unknown option max_body; did you mean max_body_size"):
        MiddlewareOptions.checked(max_body=10)


def test_the_readme_lists_every_option_with_its_declared_default() -> None:
    readme = (Path(ROOT) / "README.md").read_text(encoding="utf-8")
    block = readme.split("middleware = CacheMiddleware(", 1)[1].split("\n)\n", 1)[0]
    listed = re.findall(r"^    (\w+)=", block, flags=re.MULTILINE)
    declared = [option.name for option in fields(MiddlewareOptions) if "check" in option.metadata]

    assert listed == declared
    for name in declared:
        line = next(line for line in block.splitlines() if line.startswith(f"    {name}="))
        shown = eval(line.split("=", 1)[1].split("  #", 1)[0].rstrip(","), _README_NAMES)  # the README's value
        assert getattr(MiddlewareOptions.checked(**{name: shown}), name) == getattr(DEFAULT_OPTIONS, name), name


_README_NAMES: dict[str, Any] = {"HttpMethod": HttpMethod, "HttpStatus": HttpStatus, "SYSTEM_CLOCK": SYSTEM_CLOCK}
