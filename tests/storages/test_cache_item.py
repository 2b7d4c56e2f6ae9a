"""CacheItem keeps its 1.0 behaviour."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from chocs_middleware.cache import CacheItem
from tests.conftest import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """``CacheItem``'s 1.0 properties read the system clock itself, so here it is the one moved."""
    moved = Clock()
    monkeypatch.setattr(time, "time", moved.time)
    return moved


def test_item_keeps_id_body_and_ttl() -> None:
    item = CacheItem("id-1", b"body", ttl=30)

    assert (item.id, item.body, item.ttl) == ("id-1", b"body", 30)
    assert CacheItem("id-2", b"x").ttl == 30


def test_item_expires_after_its_ttl(clock: Clock) -> None:
    item = CacheItem("id", b"body", ttl=10)

    clock.advance(10)
    assert not item.is_expired
    clock.advance(0.5)
    assert item.is_expired


def test_setting_the_body_refreshes_updated_at_and_expiry(clock: Clock) -> None:
    item = CacheItem("id", b"old", ttl=10)
    clock.advance(8)

    item.body = b"new"
    clock.advance(8)

    assert not item.is_expired
    assert item.updated_at - item.created_at == timedelta(seconds=8)
    assert item.expires_at - item.updated_at == timedelta(seconds=10)


def test_timestamps_are_naive_utc_datetimes_as_in_1_0() -> None:
    item = CacheItem("id", b"body")

    assert item.created_at.tzinfo is None
    now_utc = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(item.created_at - now_utc) < timedelta(seconds=5)


def test_an_empty_item_is_falsy_and_already_expired(clock: Clock) -> None:
    empty = CacheItem.empty("gone")
    clock.advance(0.001)

    assert not empty
    assert empty.is_expired
    assert CacheItem("x", b"y")
