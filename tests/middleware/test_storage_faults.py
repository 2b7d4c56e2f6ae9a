"""A storage that fails never turns a good handler response into an error (docs/design.md, "Failure model")."""

from __future__ import annotations

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem
from chocs_middleware.cache.entry_store import FAULT_REST_SECONDS
from tests.conftest import Clock, Harness
from tests.storages import CollectableDictStorage, DictStorage


class BrokenStorage:
    """Every operation fails, the way a storage behind a dead network link does."""

    def get(self, item_id: str) -> CacheItem:
        raise ConnectionError("storage is down")

    def set(self, item: CacheItem) -> None:
        raise ConnectionError("storage is down")

    def collect(self, item: CacheItem) -> None:
        raise ConnectionError("storage is down")


def counted_route(harness: Harness) -> None:
    @harness.app.get("/items/{id}", cache_expiry=60)
    def read(request: HttpRequest) -> HttpResponse:
        harness.count("read")
        return HttpResponse("item")

    @harness.app.patch("/items/{id}", cache=True)
    def write(request: HttpRequest) -> HttpResponse:
        harness.count("write")
        return HttpResponse("saved")


def test_storage_whose_methods_raise_serves_the_handler(cache_log: pytest.LogCaptureFixture) -> None:
    harness = Harness(BrokenStorage())
    counted_route(harness)

    responses = [harness.client.get("/items/1") for _ in range(3)]

    assert [response.status_int for response in responses] == [200, 200, 200]
    assert [response.text for response in responses] == ["item"] * 3
    assert harness.calls["read"] == 3
    assert "ConnectionError('storage is down')" in cache_log.text
    assert "/items/{id}" in cache_log.text
    assert all(record.levelname == "WARNING" for record in cache_log.records)


def test_a_write_that_succeeded_is_not_reported_as_failed_when_invalidation_fails() -> None:
    harness = Harness(BrokenStorage())
    counted_route(harness)

    response = harness.client.patch("/items/1", "x")

    assert response.status_int == 200
    assert response.text == "saved"


def test_storage_faults_are_logged_once_per_kind_and_counted(cache_log: pytest.LogCaptureFixture) -> None:
    harness = Harness(BrokenStorage())
    counted_route(harness)

    responses = [harness.client.get("/items/1") for _ in range(50)]

    get_warnings = [record for record in cache_log.records if "storage get failed" in record.getMessage()]
    assert [response.text for response in responses] == ["item"] * 50
    assert len(get_warnings) == 1
    assert harness.middleware.storage_faults == 1  # then the storage rests, instead of failing 49 more times


def test_a_garbage_entry_is_a_miss_logged_once_and_overwritten(cache_log: pytest.LogCaptureFixture) -> None:
    storage = DictStorage()
    harness = Harness(storage)
    counted_route(harness)
    harness.client.get("/items/1")
    for item_id in list(storage._cache):
        storage.set(CacheItem(item_id, b"\x80garbage that is not an entry", 60))

    first = harness.client.get("/items/1")
    second = harness.client.get("/items/1")
    third = harness.client.get("/items/1")

    assert [first.text, second.text, third.text] == ["item"] * 3
    assert third.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 2
    assert cache_log.text.count("storage decode failed") == 1


def test_a_pickled_entry_is_never_unpickled(cache_log: pytest.LogCaptureFixture) -> None:
    import pickle

    storage = CollectableDictStorage()
    harness = Harness(storage)
    counted_route(harness)
    harness.client.get("/items/1")
    payload = pickle.dumps((200, b"evil", {"x": "y"}))
    for item_id in list(storage._cache):
        storage.set(CacheItem(item_id, payload, 60))

    response = harness.client.get("/items/1")

    assert response.text == "item"
    assert harness.calls["read"] == 2


def test_an_expired_item_from_a_storage_that_ignores_ttl_is_a_miss(clock: Clock) -> None:
    harness = Harness(DictStorage(), clock=clock)
    counted_route(harness)
    harness.client.get("/items/1")

    clock.advance(61)
    response = harness.client.get("/items/1")

    assert harness.calls["read"] == 2
    assert response.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")


class FlakyStorage(DictStorage):
    """Fails while ``down`` is set, like a storage that restarts."""

    down = False

    def get(self, cache_id: str) -> CacheItem:
        if self.down:
            raise TimeoutError("timed out")
        return super().get(cache_id)

    def set(self, item: CacheItem) -> None:
        if self.down:
            raise TimeoutError("timed out")
        super().set(item)


def test_caching_resumes_when_the_storage_is_back(clock: Clock) -> None:
    storage = FlakyStorage()
    harness = Harness(storage, clock=clock)
    counted_route(harness)

    storage.down = True
    harness.client.get("/items/1")
    storage.down = False
    clock.advance(FAULT_REST_SECONDS)
    harness.client.get("/items/1")
    resumed = harness.client.get("/items/1")

    assert resumed.headers["Cache-Status"].startswith("chocs-cache; hit")
    assert harness.calls["read"] == 2


class CountingBrokenStorage(BrokenStorage):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get(self, item_id: str) -> CacheItem:
        self.calls.append("get")
        return super().get(item_id)

    def set(self, item: CacheItem) -> None:
        self.calls.append("set")
        super().set(item)

    def collect(self, item: CacheItem) -> None:
        self.calls.append("collect")
        super().collect(item)


def test_after_a_fault_the_storage_rests_but_invalidations_are_still_attempted() -> None:
    storage = CountingBrokenStorage()
    harness = Harness(storage)
    counted_route(harness)

    harness.client.get("/items/1")
    calls_of_the_first_request = list(storage.calls)
    for _ in range(5):
        harness.client.get("/items/1")
    reads_while_resting = storage.calls[len(calls_of_the_first_request) :]
    harness.client.patch("/items/1", "x")

    assert calls_of_the_first_request == ["get"]  # one failing call, not one per step
    assert reads_while_resting == []
    assert storage.calls[-1] == "collect"  # a write must not leave a stale entry behind
    assert harness.calls["read"] == 6
