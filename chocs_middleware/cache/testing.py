"""The storage contract: what the middleware relies on from a storage, as tests you can run.

Every built-in storage passes it; check your own by subclassing ``StorageContract`` in a test
module and saying how to make a fresh, empty storage::

    from chocs_middleware.cache.testing import StorageContract

    class TestMyStorage(StorageContract):
        def make_storage(self):
            return MyStorage()

pytest (or any runner that collects ``test_*`` methods of ``Test*`` classes) then runs each
check. Optional capabilities (``collect``, ``get_many``, the cross-process lock,
``compare_and_set``, groups, marking groups and the look-up that locks) are checked when the storage has them;
the others are skipped, visibly, each saying which capability the storage does not offer. The
last check serves a cached route through the middleware and chocs' WSGI adapter on your
storage: a miss, a hit, and an invalidation.
"""

from __future__ import annotations

import contextlib
import io
import time
import unittest
from typing import Any, NoReturn

from chocs import Application, HttpRequest, HttpResponse, create_wsgi_handler

from .adapters.chocs.middleware import CacheMiddleware
from .error import CacheError
from .storages.protocol import (
    CacheItem,
    ICacheStorage,
    ICollectableCacheStorage,
    ICompareAndSetCacheStorage,
    IGroupCacheStorage,
    ILockableCacheStorage,
    ILookupCacheStorage,
    IMarkingCacheStorage,
    IMultiGetCacheStorage,
)

__all__ = ["INDEX", "RESPONSE", "StorageContract"]

INDEX = "r0c0ffee" + "0" * 17
"""Ids shaped as the middleware makes them: an index, and (below) the start of a response of its
resource; they share ``keys.slot_tag``, as every id a ``compare_and_set`` writes together does."""
RESPONSE = "v0c0ffee" + "1" * 8


class StorageContract:
    """Subclass it as ``Test...`` and implement ``make_storage``."""

    def make_storage(self) -> ICacheStorage:
        """A new, empty storage: each check makes its own."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_storage()")

    def _storage(self) -> ICacheStorage:
        storage = self.make_storage()
        assert isinstance(storage, ICacheStorage), (
            f"{type(storage).__name__} is not a storage: it needs get(item_id) and set(item) methods"
        )
        return storage

    def _absent(self, storage: ICacheStorage, item_id: str) -> bool:
        """What the middleware concludes: a miss (``CacheError``/``KeyError``), or an empty item (a tombstone)."""
        try:
            return not storage.get(item_id)
        except (CacheError, KeyError):
            return True

    def test_get_returns_what_set_stored(self) -> None:
        storage = self._storage()

        storage.set(CacheItem("a", b"body of a", 60))

        item = storage.get("a")
        assert (item.id, item.body) == ("a", b"body of a")

    def test_a_miss_raises_cache_error_or_key_error(self) -> None:
        storage = self._storage()
        try:
            storage.get("never stored")
        except (CacheError, KeyError):
            return
        except Exception as error:
            raise AssertionError(
                f"{type(storage).__name__}.get raised {error!r} for an id it does not hold: a miss must "
                f"raise CacheError (or KeyError); anything else is a storage fault, and the cache then "
                f"rests for a second"
            ) from error
        raise AssertionError(f"{type(storage).__name__}.get returned an item for an id it does not hold")

    def test_set_replaces_an_item(self) -> None:
        storage = self._storage()
        storage.set(CacheItem("a", b"old", 60))

        storage.set(CacheItem("a", b"new", 60))

        assert storage.get("a").body == b"new"

    def test_items_are_kept_apart(self) -> None:
        storage = self._storage()

        storage.set(CacheItem("a", b"first", 60))
        storage.set(CacheItem("b", b"second", 60))

        assert (storage.get("a").body, storage.get("b").body) == (b"first", b"second")

    def test_bytes_are_kept_exactly(self) -> None:
        storage = self._storage()
        body = bytes(range(256)) * 4 + b"\n\r\x00"

        storage.set(CacheItem("binary", body, 60))

        assert storage.get("binary").body == body

    def test_a_tombstone_written_with_set_reads_as_absent(self) -> None:
        storage = self._storage()
        storage.set(CacheItem("a", b"body", 60))

        storage.set(CacheItem.empty("a"))

        assert self._absent(storage, "a")

    def test_collect_removes_an_item_and_only_that_one(self) -> None:
        storage = self._storage()
        if not isinstance(storage, ICollectableCacheStorage):
            _skip(storage, "collect (ICollectableCacheStorage): invalidation writes tombstones, checked above")
        storage.set(CacheItem("a", b"body", 60))
        storage.set(CacheItem("b", b"body", 60))

        storage.collect(CacheItem.empty("a"))
        with contextlib.suppress(CacheError, KeyError):  # a miss: the middleware takes it as "nothing to remove"
            storage.collect(CacheItem.empty("never stored"))

        assert self._absent(storage, "a")
        assert storage.get("b").body == b"body"

    def test_get_many_answers_in_order_with_none_for_misses(self) -> None:
        storage = self._storage()
        if not isinstance(storage, IMultiGetCacheStorage):
            _skip(storage, "get_many (IMultiGetCacheStorage)")
        storage.set(CacheItem("a", b"A", 60))
        storage.set(CacheItem("c", b"C", 60))

        items = storage.get_many(["a", "b", "c"])

        assert [None if item is None else item.body for item in items] == [b"A", None, b"C"]

    def test_a_lock_is_held_by_one_owner_and_released_only_by_it(self) -> None:
        storage = self._storage()
        if not isinstance(storage, ILockableCacheStorage):
            _skip(storage, "the cross-process lock (ILockableCacheStorage)")
        token = storage.acquire_lock("key", 30)
        assert token is not None, "a free lock must be taken"
        assert storage.acquire_lock("key", 30) is None, "a held lock must not be taken again"

        storage.release_lock("key", "not the owner's token")
        assert storage.acquire_lock("key", 30) is None, "only the owner's token releases a lock"

        storage.release_lock("key", token)
        assert storage.acquire_lock("key", 30) is not None, "a released lock can be taken again"

    def test_compare_and_set_writes_only_while_the_guard_holds_what_was_read(self) -> None:
        storage = self._storage()
        if not isinstance(storage, ICompareAndSetCacheStorage):
            _skip(storage, "compare_and_set (ICompareAndSetCacheStorage)")
        guard, a, b, c = INDEX, f"{RESPONSE}a", f"{RESPONSE}b", f"{RESPONSE}c"
        assert storage.compare_and_set(guard, None, [CacheItem(guard, b"one", 60), CacheItem(a, b"A", 60)])
        assert not storage.compare_and_set(guard, None, [CacheItem(b, b"B", 60)]), "the guard is not empty"
        assert not storage.compare_and_set(guard, b"two", [CacheItem(b, b"B", 60)]), "the guard holds b'one'"
        assert storage.compare_and_set(guard, b"one", [CacheItem(c, b"C", 60)])

        assert self._absent(storage, b)
        assert (storage.get(a).body, storage.get(c).body) == (b"A", b"C")

    def test_invalidating_a_group_removes_its_members_and_nothing_else(self) -> None:
        storage = self._storage()
        if not isinstance(storage, IGroupCacheStorage):
            _skip(storage, "groups (IGroupCacheStorage)")
        since = storage.storage_time()
        a, b, c = f"{RESPONSE}a", f"{RESPONSE}b", f"{RESPONSE}c"
        for name, groups in ((a, ["g1"]), (b, ["g1", "g2"]), (c, ["g2"])):
            item = CacheItem(name, name.encode(), 60)
            guard = INDEX + name[-1]
            written = storage.compare_and_set_grouped(guard, None, [item], [(g, name) for g in groups], [], since)
            assert written is True, f"a grouped write of {name!r} answered {written!r}"
        assert sorted(storage.group_members("g1")) == [a, b]

        removed = storage.invalidate_groups(["g1"], 3600)

        assert removed == 2, f"invalidate_groups removed {removed} items; g1 listed 2"
        assert self._absent(storage, a) and self._absent(storage, b)
        assert storage.get(c).body == c.encode()
        assert storage.group_members("g1") == []

    def test_a_grouped_write_is_refused_after_an_invalidation_of_a_checked_group(self) -> None:
        storage = self._storage()
        if not isinstance(storage, IGroupCacheStorage):
            _skip(storage, "groups (IGroupCacheStorage)")
        asked_handler_at = storage.storage_time()
        storage.invalidate_groups(["g1"], 3600)  # a write lands while the handler computes
        _wait_for_the_clock_to_move(storage)
        asked_again_at = storage.storage_time()

        v = RESPONSE
        refused = storage.compare_and_set_grouped(
            INDEX, None, [CacheItem(v, b"old", 60)], [("g1", v)], ["g1"], asked_handler_at
        )
        later = storage.compare_and_set_grouped(
            INDEX, None, [CacheItem(v, b"new", 60)], [("g1", v)], ["g1"], asked_again_at
        )

        assert refused is None, "a response computed before its group was invalidated must not be stored"
        assert later is True and storage.get(v).body == b"new"
        assert storage.group_members("g1") == [v]
        assert asked_again_at >= asked_handler_at, "storage_time must never go back"

    def test_marking_a_group_refuses_what_was_computed_before_and_keeps_its_members(self) -> None:
        storage = self._storage()
        if not isinstance(storage, IMarkingCacheStorage) or not isinstance(storage, IGroupCacheStorage):
            _skip(storage, "marking groups (IMarkingCacheStorage)")
        v1, v2 = f"{RESPONSE}1", f"{RESPONSE}2"
        storage.compare_and_set_grouped(
            INDEX, None, [CacheItem(v1, b"x", 60)], [("g1", v1)], [], storage.storage_time()
        )
        asked_handler_at = storage.storage_time()
        storage.mark_groups(["g1"], 3600)  # a soft purge lands while the handler computes

        refused = storage.compare_and_set_grouped(
            f"{INDEX}2", None, [CacheItem(v2, b"old", 60)], [("g1", v2)], ["g1"], asked_handler_at
        )

        assert refused is None, "a response computed before its group was marked must not be stored"
        assert storage.get(v1).body == b"x" and storage.group_members("g1") == [v1], "marking removes nothing"

    def test_remove_all_removes_everything_and_refuses_what_was_computed_before(self) -> None:
        storage = self._storage()
        if not isinstance(storage, IGroupCacheStorage):
            _skip(storage, "groups (IGroupCacheStorage)")
        asked_handler_at = storage.storage_time()
        v1, v2 = f"{RESPONSE}1", f"{RESPONSE}2"
        storage.set(CacheItem(v1, b"x", 60))
        storage.compare_and_set_grouped(
            INDEX, None, [CacheItem(v2, b"y", 60)], [("g1", v2), ("hosts", "h")], [], asked_handler_at
        )

        removed = storage.remove_all(3600)

        assert removed in (2, None), f"remove_all counted {removed} removed responses; there were 2"
        assert self._absent(storage, v1) and self._absent(storage, v2) and self._absent(storage, INDEX)
        assert storage.group_members("g1") == [] and storage.group_members("hosts") == []
        written_again = storage.compare_and_set_grouped(
            INDEX, None, [CacheItem(v2, b"y", 60)], [], [], asked_handler_at
        )
        assert written_again is None

    def test_a_look_up_takes_the_lock_only_when_the_last_item_is_missing(self) -> None:
        storage = self._storage()
        if not isinstance(storage, ILookupCacheStorage):
            _skip(storage, "a look-up that locks (ILookupCacheStorage)")
        storage.set(CacheItem(INDEX, b"index", 60))

        missing = storage.look_up([INDEX, RESPONSE], "key", 30)
        again = storage.look_up([INDEX, RESPONSE], "key", 30)
        storage.set(CacheItem(RESPONSE, b"response", 60))
        found = storage.look_up([INDEX, RESPONSE], "other key", 30)

        assert [item and item.body for item in missing.items] == [b"index", None]
        assert missing.token is not None and missing.storage_time is not None, "the lock, and the clock"
        assert again.token is None and again.locked_elsewhere, "a held lock must not be taken again"
        assert [item and item.body for item in found.items] == [b"index", b"response"]
        assert (found.token, found.locked_elsewhere, found.storage_time) == (None, False, None), "nothing to lock"

    def test_store_and_release_writes_and_releases_the_lock(self) -> None:
        storage = self._storage()
        if not isinstance(storage, ILookupCacheStorage):
            _skip(storage, "a look-up that locks (ILookupCacheStorage)")
        looked = storage.look_up([INDEX, RESPONSE], "key", 30)
        assert looked.token is not None and looked.storage_time is not None

        written = storage.store_and_release(
            INDEX, None, [CacheItem(RESPONSE, b"response", 60)], [], [], looked.storage_time, "key", looked.token
        )

        assert written is True and storage.get(RESPONSE).body == b"response"
        retaken = storage.look_up([INDEX, f"{RESPONSE}x"], "key", 30)
        assert retaken.token is not None, "the store released the lock"

    def test_the_middleware_caches_and_invalidates_on_it(self) -> None:
        storage = self._storage()
        app = Application(CacheMiddleware(storage))
        runs = {"read": 0, "version": 1}

        @app.get("/thing", cache_expiry=60)
        def read(request: HttpRequest) -> HttpResponse:
            runs["read"] += 1
            return HttpResponse(f"v{runs['version']}")

        @app.put("/thing", cache=True)
        def write(request: HttpRequest) -> HttpResponse:
            runs["version"] += 1
            return HttpResponse("")

        wsgi = create_wsgi_handler(app)
        assert [_call(wsgi, "GET") for _ in range(2)] == ["v1", "v1"]
        _call(wsgi, "PUT")
        assert [_call(wsgi, "GET") for _ in range(2)] == ["v2", "v2"]
        assert runs["read"] == 2, f"the handler ran {runs['read']} times for 2 versions: entries were not kept"


def _skip(storage: ICacheStorage, capability: str) -> NoReturn:
    """A check of a capability the storage does not offer: skipped, visibly, with the capability's name."""
    raise unittest.SkipTest(f"{type(storage).__name__} does not offer {capability}")


def _wait_for_the_clock_to_move(storage: IGroupCacheStorage) -> None:
    start = storage.storage_time()
    while storage.storage_time() <= start:
        time.sleep(0.001)


def _call(wsgi: Any, method: str) -> str:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/thing",
        "QUERY_STRING": "",
        "HTTP_HOST": "contract.test",
        "wsgi.input": io.BytesIO(b""),
    }
    body: bytes = wsgi(environ, lambda status, headers: None).read()
    return body.decode()
