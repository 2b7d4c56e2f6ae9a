"""Shared test harness: a chocs app behind CacheMiddleware, driven through the real WSGI path."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from chocs import Application, create_wsgi_handler
from webtest import TestApp

from chocs_middleware.cache import CacheMiddleware, CollectableInMemoryCacheStorage, ICacheStorage


class Clock:
    """Stands in for ``time.time`` so that tests can move time forward without sleeping."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """An app with the cache middleware, a WSGI client for it, and a count of handler runs."""

    def __init__(self, storage: ICacheStorage | None = None, **options: Any) -> None:
        self.storage: ICacheStorage = storage if storage is not None else CollectableInMemoryCacheStorage()
        self.middleware = CacheMiddleware(self.storage, **options)
        self.app = Application(self.middleware)
        self.calls: Counter[str] = Counter()
        self.client = TestApp(create_wsgi_handler(self.app), lint=False)

    def count(self, name: str) -> None:
        self.calls[name] += 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(1_800_000_000.0)
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture
def cache_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.WARNING, logger="chocs_middleware.cache")
    yield caplog


def header_lines(response: Any) -> list[tuple[str, str]]:
    """The response's header lines with lower-case names, as the WSGI server received them."""
    return [(name.lower(), value) for name, value in response.headerlist if name.lower() != "content-length"]
