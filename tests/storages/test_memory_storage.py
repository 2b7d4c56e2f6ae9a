"""The built-in in-memory storages: bounded, with expiry and CLOCK eviction, thread-safe."""

from __future__ import annotations

import io
import random
import threading
import tracemalloc
from contextlib import suppress

import pytest
from chocs import HttpRequest, HttpResponse, create_wsgi_handler

from chocs_middleware.cache import (
    CacheError,
    CacheItem,
    CollectableInMemoryCacheStorage,
    InMemoryCacheStorage,
)
from tests.conftest import Clock, Harness


def test_a_miss_raises_cache_error() -> None:
    with pytest.raises(CacheError):
        InMemoryCacheStorage().get("nothing")


def test_an_expired_item_is_not_returned(clock: Clock) -> None:
    storage = InMemoryCacheStorage(clock=clock)
    storage.set(CacheItem("a", b"x", ttl=10))

    clock.advance(11)

    with pytest.raises(CacheError):
        storage.get("a")
    assert len(storage) == 0


def test_item_count_is_bounded_least_recently_used_first() -> None:
    storage = InMemoryCacheStorage(max_items=3)
    for name in "abc":
        storage.set(CacheItem(name, b"x", 60))
    storage.get("a")

    storage.set(CacheItem("d", b"x", 60))

    assert len(storage) == 3
    with pytest.raises(CacheError):
        storage.get("b")
    assert [storage.get(name).id for name in "acd"] == ["a", "c", "d"]


@pytest.mark.parametrize(("written", "kept"), [("de", "ade"), ("defg", "efg")])
def test_an_item_read_is_passed_over_once_when_room_is_made(written: str, kept: str) -> None:
    storage = InMemoryCacheStorage(max_items=3)
    for name in "abc":
        storage.set(CacheItem(name, b"x", 60))
    storage.get("a")

    for name in written:
        storage.set(CacheItem(name, b"x", 60))

    # "a" outlives the items written before it and not read ("b", "c"), then goes, unread since.
    assert "".join(name for name, item in zip("abcdefg", storage.get_many(list("abcdefg"))) if item) == kept


def test_writing_one_item_again_and_again_keeps_memory_bounded() -> None:
    storage = InMemoryCacheStorage(max_items=10)
    storage.set(CacheItem("warm", b"x", 60))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(50_000):
        storage.set(CacheItem("same", b"x", 60))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert len(storage) == 2
    assert grown < 20_000  # what the storage remembers of items gone is bounded by what it holds


def test_bytes_are_bounded() -> None:
    storage = InMemoryCacheStorage(max_bytes=1000)
    for number in range(20):
        storage.set(CacheItem(f"k{number:02}", b"x" * 97, 60))

    assert storage.size_bytes <= 1000
    assert len(storage) == 10
    assert storage.get("k19").body == b"x" * 97


def test_expired_items_are_evicted_before_live_ones(clock: Clock) -> None:
    storage = InMemoryCacheStorage(max_items=4, clock=clock)
    storage.set(CacheItem("live-old", b"x", 600))
    storage.set(CacheItem("short-1", b"x", 5))
    storage.set(CacheItem("short-2", b"x", 5))
    storage.set(CacheItem("live", b"x", 600))
    clock.advance(6)

    storage.set(CacheItem("new", b"x", 600))

    assert {storage.get(name).id for name in ("live-old", "live", "new")} == {"live-old", "live", "new"}


def test_an_item_larger_than_the_byte_bound_is_not_stored_and_replaces_nothing() -> None:
    storage = InMemoryCacheStorage(max_bytes=100)
    storage.set(CacheItem("a", b"small", 60))

    storage.set(CacheItem("a", b"x" * 200, 60))

    with pytest.raises(CacheError):
        storage.get("a")
    assert storage.size_bytes == 0


def test_is_empty_and_len_are_kept_from_1_0() -> None:
    storage = InMemoryCacheStorage()
    assert storage.is_empty and len(storage) == 0

    storage.set(CacheItem("a", b"x", 60))

    assert not storage.is_empty and len(storage) == 1


def test_collect_of_a_missing_item_is_harmless() -> None:
    storage = CollectableInMemoryCacheStorage()

    storage.collect(CacheItem.empty("never stored"))

    assert storage.is_empty


@pytest.mark.parametrize(("name", "value"), [("max_items", 0), ("max_bytes", -5)])
def test_bounds_must_be_positive(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        InMemoryCacheStorage(**{name: value})  # type: ignore[arg-type]


def test_bounds_must_be_whole_numbers() -> None:
    with pytest.raises(TypeError, match="max_items"):
        InMemoryCacheStorage(max_items="10")  # type: ignore[arg-type]


def test_concurrent_use_keeps_the_bounds_and_the_byte_count() -> None:
    storage = CollectableInMemoryCacheStorage(max_items=200, max_bytes=40_000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(5000):
                key = f"k{rng.randrange(500)}"
                action = rng.random()
                if action < 0.5:
                    storage.set(CacheItem(key, b"x" * rng.randrange(1, 400), 60))
                elif action < 0.9:
                    with suppress(CacheError):
                        assert storage.get(key).id == key
                else:
                    storage.collect(CacheItem.empty(key))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(storage) <= 200
    assert storage.size_bytes <= 40_000
    assert storage.size_bytes == sum(len(item.body) + len(key) for key, item in storage._items.items())


def test_items_no_longer_needed_are_evicted_before_the_least_recently_used(clock: Clock) -> None:
    storage = InMemoryCacheStorage(max_items=4, clock=clock)
    storage.set(CacheItem("old-but-needed", b"x", 600))
    storage.set(CacheItem("kept-in-case-1", b"x", 600, needed_for=5))
    storage.set(CacheItem("kept-in-case-2", b"x", 600, needed_for=5))
    storage.set(CacheItem("needed", b"x", 600))
    clock.advance(6)
    storage.get("kept-in-case-1")  # used recently, but still only kept in case

    storage.set(CacheItem("new", b"x", 600))
    storage.set(CacheItem("newer", b"x", 600))

    assert {item_id for item_id in ("old-but-needed", "needed", "new", "newer") if storage.get(item_id)} == {
        "old-but-needed",
        "needed",
        "new",
        "newer",
    }
    assert len(storage) == 4


def grouped_write(storage: InMemoryCacheStorage, item_id: str, *groups: str) -> bool | None:
    item = CacheItem(item_id, b"x" * 10, 60)
    return storage.compare_and_set_grouped(
        "index-" + item_id, None, [item], [(group, item_id) for group in groups], [], storage.storage_time()
    )


def test_group_lists_are_bounded_with_the_storage_and_cleaned_with_evictions() -> None:
    storage = InMemoryCacheStorage(max_items=20)
    for number in range(500):
        grouped_write(storage, f"v{number}", "everyone", f"own-{number}")

    listed = storage.group_members("everyone")

    assert len(storage) <= 20
    assert len(listed) <= 20 and all(member in storage._items for member in listed)
    assert len(storage._listings.groups) <= 21  # "everyone" and the own group of each item still here
    assert storage.invalidate_groups(["everyone"], 60) == len(listed)


def test_an_item_that_is_removed_or_expires_leaves_its_groups(clock: Clock) -> None:
    storage = CollectableInMemoryCacheStorage(clock=clock)
    grouped_write(storage, "a", "g")
    grouped_write(storage, "b", "g")

    storage.collect(CacheItem.empty("a"))
    clock.advance(61)
    with suppress(CacheError):
        storage.get("b")  # found expired, and forgotten

    assert storage.group_members("g") == []
    assert storage._listings.groups == {} and storage._listings.listed_in == {}


def test_members_that_are_not_items_keep_the_most_recently_listed(clock: Clock) -> None:
    storage = InMemoryCacheStorage(max_items=3, clock=clock)
    for number, host in enumerate(("a", "b", "c", "a", "d")):
        item = CacheItem(f"v{number}", b"x", 60)
        storage.compare_and_set_grouped(f"r{number}", None, [item], [("hosts", host)], [], storage.storage_time())

    assert storage.group_members("hosts") == ["c", "a", "d"]


def test_an_invalidation_is_forgotten_after_it_was_kept(clock: Clock) -> None:
    storage = InMemoryCacheStorage(clock=clock)
    before = storage.storage_time()
    storage.invalidate_groups(["g"], 10)

    refused = storage.compare_and_set_grouped("r", None, [CacheItem("a", b"x", 60)], [], ["g"], before)
    clock.advance(11)
    accepted = storage.compare_and_set_grouped("r", None, [CacheItem("a", b"x", 60)], [], ["g"], before)

    assert refused is None
    assert accepted is True  # a read in flight for longer than the mark is kept: documented


def test_unique_urls_leave_the_in_memory_storage_within_its_bounds() -> None:
    # Twenty times the item bound in unique URLs, with a byte bound that binds first.
    storage = InMemoryCacheStorage(max_items=100, max_bytes=16 * 1024)
    harness = Harness(storage)

    @harness.app.get("/search", cache_expiry=600)
    def search(request: HttpRequest) -> HttpResponse:
        return HttpResponse("r" * 200)

    wsgi = create_wsgi_handler(harness.app)  # the WSGI path itself: WebTest's overhead is 8x the app's
    for number in range(2_000):
        environ: dict[str, object] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/search", "QUERY_STRING": f"q={number}"}
        environ.update({"HTTP_HOST": "h", "wsgi.input": io.BytesIO(b"")})
        wsgi(environ, lambda status, headers: None).read()

    assert len(storage) <= 100
    assert storage.size_bytes <= 16 * 1024
    assert (
        harness.client.get("/search?q=1999", headers={"Host": "h"})
        .headers["Cache-Status"]
        .startswith("chocs-cache; hit")
    )


def test_bookkeeping_beyond_the_item_bound_goes_never_a_response_in_its_place() -> None:
    storage = InMemoryCacheStorage(max_items=3)
    for name in "rs":
        storage.set(CacheItem(name, b"response", 60))
    for name in "abcde":
        storage.set(CacheItem(name, b"index", 60, bookkeeping=True))

    assert sorted(item.id for item in storage.get_many(list("rsabcde")) if item is not None) == list("cders")
    assert storage.stats()["responses"] == 2


def test_bookkeeping_never_needed_goes_first_then_the_oldest_written() -> None:
    storage = InMemoryCacheStorage(max_items=3)

    def held() -> list[str]:
        return sorted(item.id for item in storage.get_many(["a", "b", "c", "d", "marker"]) if item is not None)

    storage.set(CacheItem("a", b"index", 60, bookkeeping=True))
    storage.set(CacheItem("marker", b"", 60, bookkeeping=True, needed_for=0))  # no body: a falsy item
    storage.set(CacheItem("b", b"index", 60, bookkeeping=True))
    storage.set(CacheItem("c", b"index", 60, bookkeeping=True))
    after_c = held()
    storage.set(CacheItem("a", b"index, rewritten", 60, bookkeeping=True))  # now the newest write
    storage.set(CacheItem("d", b"index", 60, bookkeeping=True))

    assert after_c == ["a", "b", "c"]  # the marker went, not a, the oldest
    assert held() == ["a", "c", "d"]  # then b, the oldest written


def test_rewriting_bookkeeping_again_and_again_keeps_its_queue_bounded() -> None:
    storage = InMemoryCacheStorage(max_items=10)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(50_000):
        storage.set(CacheItem("index", b"x", 60, bookkeeping=True, needed_for=number % 2))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert grown < 20_000
    assert storage.get("index").needed_for == 1
