"""A storage that fails never turns a good handler response into an error (docs/design.md, "Failure model")."""

from __future__ import annotations

import json
import logging
import random
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from chocs import HttpRequest, HttpResponse

from chocs_middleware.cache import CacheItem
from chocs_middleware.cache.common.faults import BREAKER_THRESHOLD, FAULT_REST_SECONDS
from chocs_middleware.cache.entries.compression import CARRIED_DICTIONARY
from chocs_middleware.cache.error import WriteRefused
from tests.conftest import Clock, Harness, versioned_items
from tests.user_storages import CollectableDictStorage, DictStorage


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
    # One failing call per request (the request then leaves the storage alone), BREAKER_THRESHOLD
    # requests in a row, then the storage rests instead of failing 47 more times.
    assert harness.middleware.storage_faults == BREAKER_THRESHOLD


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
    harness = Harness(DictStorage(), clock=clock, keep_stale=0)
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


def test_after_faults_in_a_row_the_storage_rests_but_invalidations_are_still_attempted() -> None:
    storage = CountingBrokenStorage()
    harness = Harness(storage)
    counted_route(harness)

    harness.client.get("/items/1")
    calls_of_the_first_request = list(storage.calls)
    for _ in range(5):
        harness.client.get("/items/1")
    calls_of_the_next_five = storage.calls[len(calls_of_the_first_request) :]
    harness.client.patch("/items/1", "x")

    assert calls_of_the_first_request == ["get"]  # one failing call, not one per step
    assert calls_of_the_next_five == ["get"] * (BREAKER_THRESHOLD - 1)  # then it rests
    assert storage.calls[-1] == "set"  # the invalidation's marker: a write must not leave a stale entry behind
    assert harness.calls["read"] == 6


class FlakyReads(CollectableDictStorage):
    """One read in a hundred fails, the way a storage on a busy network does."""

    def __init__(self) -> None:
        super().__init__()
        self.random = random.Random(7)

    def get(self, cache_id: str) -> CacheItem:
        if self.random.random() < 0.01:
            raise TimeoutError("timed out")
        return super().get(cache_id)


def test_one_read_in_a_hundred_failing_costs_about_one_hit_in_a_hundred() -> None:
    harness = Harness(FlakyReads())
    counted_route(harness)
    for number in range(20):
        harness.client.get(f"/items/{number}")

    statuses = [harness.client.get(f"/items/{number % 20}").headers["Cache-Status"] for number in range(2000)]

    hits = sum(status.startswith("chocs-cache; hit") for status in statuses)
    assert hits / len(statuses) >= 0.90


class RefusingWrites(CollectableDictStorage):
    """Up, but refusing writes, as a Redis at maxmemory with noeviction does."""

    full = False

    def set(self, item: CacheItem) -> None:
        if self.full:
            raise WriteRefused("OOM command not allowed when used memory > 'maxmemory'")
        super().set(item)


def test_a_storage_that_refuses_writes_still_serves_what_it_holds() -> None:
    storage = RefusingWrites()
    harness = Harness(storage)
    counted_route(harness)
    harness.client.get("/items/hot")

    storage.full = True
    hot = [harness.client.get("/items/hot").headers["Cache-Status"] for _ in range(50)]
    cold = harness.client.get("/items/cold")

    assert all(status.startswith("chocs-cache; hit") for status in hot)
    assert cold.headers["Cache-Status"] == "chocs-cache; fwd=uri-miss; fwd-status=200; detail=storage-unavailable"


class PausedWrites(CollectableDictStorage):
    """Reads work, writes time out: a Redis under CLIENT PAUSE WRITE, or one whose disk is failing."""

    paused = False

    def set(self, item: CacheItem) -> None:
        if self.paused:
            raise TimeoutError("write timed out")
        super().set(item)

    def collect(self, item: CacheItem) -> None:
        if self.paused:
            raise TimeoutError("write timed out")
        super().collect(item)


def test_a_failed_invalidation_is_remembered_logged_and_retried(
    clock: Clock, cache_log: pytest.LogCaptureFixture
) -> None:
    storage = PausedWrites()
    this_process, other_process = Harness(storage, clock=clock), Harness(storage, clock=clock)
    versioned_items(this_process, other_process)

    this_process.client.get("/items/1")
    storage.paused = True
    patched = this_process.client.patch("/items/1", "x")
    during = this_process.client.get("/items/1")
    elsewhere_during = other_process.client.get("/items/1")
    storage.paused = False
    retrier = this_process.middleware._cache.guard.retrier
    assert retrier is not None and retrier.settle()  # the pending invalidation is retried, in the background
    elsewhere_after = other_process.client.get("/items/1")

    assert patched.headers["Cache-Status"] == "chocs-cache; fwd=method; fwd-status=204; detail=invalidation-failed"
    errors = [record for record in cache_log.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "could not invalidate //localhost:80/items/1" in errors[0].getMessage()
    assert during.text == "v2"  # this process never serves what was stored before the write
    assert elsewhere_during.text == "v1"  # another process cannot know yet (docs/deployment.md)
    assert elsewhere_after.text == "v2"


def planted(storage: DictStorage, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite every stored response's metadata (kept apart, or carried by its path's index) as
    someone with write access to the storage, who knows the format, could."""
    for item_id, item in list(storage._cache.items()):
        if item_id.startswith("r") and item.body and not item.body.startswith(b"chocs-cache"):  # carries a response
            expander = zlib.decompressobj(-15, zdict=CARRIED_DICTIONARY)
            tag, index_line, meta, body = expander.decompress(item.body).split(b"\n", 3)
            data = json.loads(meta)
            change(data)
            compressor = zlib.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, CARRIED_DICTIONARY)
            lines = b"\n".join((tag, index_line, json.dumps(data).encode(), body))
            blob = compressor.compress(lines) + compressor.flush() + expander.unused_data
        elif item.body.startswith(b"chocs-cache 3 response\n"):
            tag, meta, body = item.body.split(b"\n", 2)
            data = json.loads(meta)
            change(data)
            blob = b"\n".join((tag, json.dumps(data).encode(), body))
        else:
            continue
        storage.set(CacheItem(item_id, blob, 600))


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("an impossible status", lambda meta: meta.update(s=999)),
        ("a header with CR LF", lambda meta: meta["h"].update({"x-evil": ["a\r\nSet-Cookie: s=1"]})),
        ("a header that is not latin-1", lambda meta: meta["h"].update({"x-evil": ["€"]})),
        ("a Set-Cookie", lambda meta: meta["h"].update({"set-cookie": ["session=planted"]})),
        ("a time that is not a number", lambda meta: meta.update(t=float("nan"))),
        ("a lifetime beyond any clock", lambda meta: meta.update(l=10**12)),
    ],
)
def test_an_entry_planted_in_the_storage_is_a_miss_logged_and_removed(
    name: str, change: Callable[[dict[str, Any]], None], cache_log: pytest.LogCaptureFixture
) -> None:
    storage = CollectableDictStorage()
    harness = Harness(storage)
    counted_route(harness)
    harness.client.get("/items/1")
    planted(storage, change)

    answers = [
        harness.client.get("/items/1", headers={"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}) for _ in range(3)
    ]

    assert [response.status_int for response in answers] == [200, 200, 200]
    assert "set-cookie" not in {name.lower() for response in answers for name in response.headers}
    assert harness.calls["read"] == 2  # refused once, then stored again and served
    assert cache_log.text.count("storage decode failed") == 1


def test_an_index_planted_with_100000_variants_is_refused_at_once(cache_log: pytest.LogCaptureFixture) -> None:
    storage = CollectableDictStorage()
    harness = Harness(storage)
    counted_route(harness)
    harness.client.get("/items/1")
    index_id = next(item_id for item_id in storage._cache if item_id.startswith("r"))
    huge = {"g": "g", "r": [], "v": [[f"v{number:024d}", 2_000_000_000] for number in range(100_000)]}
    storage.set(CacheItem(index_id, b"chocs-cache 3 index\n" + json.dumps(huge).encode(), 600))

    write = harness.client.patch("/items/1", "x")
    after = harness.client.get("/items/1")

    assert write.headers["Cache-Status"].endswith("detail=invalidated")
    assert after.headers["Cache-Status"].startswith("chocs-cache; fwd=uri-miss")
    assert "more than 16 variants" in cache_log.text or "more than this cache stores" in cache_log.text
