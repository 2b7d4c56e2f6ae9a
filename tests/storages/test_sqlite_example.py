"""CONTRIBUTING.md's storage recipe (``examples/sqlite_storage.py``) passes the storage contract,
and two storages on one file (two processes) see each other's entries, locks and invalidations."""

from __future__ import annotations

from pathlib import Path

import pytest

from chocs_middleware.cache import CacheItem, ICacheStorage
from chocs_middleware.cache.testing import StorageContract
from examples.sqlite_storage import SQLiteCacheStorage


class TestSQLiteCacheStorage(StorageContract):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.path = tmp_path / "cache.sqlite"
        self.request = request

    def make_storage(self) -> ICacheStorage:
        self.path.unlink(missing_ok=True)
        storage = SQLiteCacheStorage(str(self.path))
        self.request.addfinalizer(storage.close)
        return storage


def test_storages_on_one_file_share_entries_locks_and_invalidations(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    one, other = SQLiteCacheStorage(path), SQLiteCacheStorage(path)
    since = one.storage_time()
    assert one.compare_and_set_grouped("r1", None, [CacheItem("v1", b"body", 60)], [("g", "v1")], [], since)

    assert other.get("v1").body == b"body"
    assert one.acquire_lock("key", 30) is not None and other.acquire_lock("key", 30) is None
    assert other.invalidate_groups(["g"], 60) == 1
    assert one.get_many(["v1"]) == [None]
    one.close()
    other.close()
