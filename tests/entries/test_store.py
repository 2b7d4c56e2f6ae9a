"""``EntryStore``: the index + variants + generation model on a storage, and its fault containment."""

from __future__ import annotations

import logging
from enum import Enum

import pytest

from chocs_middleware.cache import (
    CacheError,
    CacheItem,
    CollectableInMemoryCacheStorage,
    ICacheStorage,
    InMemoryCacheStorage,
)
from chocs_middleware.cache.common.faults import BREAKER_THRESHOLD, FAULT_REST_SECONDS, FaultLog
from chocs_middleware.cache.decisions.credentials import Lookup
from chocs_middleware.cache.decisions.values import MAX_VARIANTS_PER_RESOURCE, StoredResponse, VaryRecipe
from chocs_middleware.cache.entries.guard import StorageGuard
from chocs_middleware.cache.entries.ids import credentials_mac, uri_prefix, variant_id
from chocs_middleware.cache.entries.invalidation import Invalidator
from chocs_middleware.cache.entries.layout import MAX_CARRIED_SIZE
from chocs_middleware.cache.entries.outcomes import URI_MISS, Missed, Refusal, Seen, Stored
from chocs_middleware.cache.entries.store import EntryStore
from chocs_middleware.cache.error import WriteRefused
from tests.conftest import Clock
from tests.user_storages import DictStorage

SHARED = VaryRecipe(("accept",))
PER_USER = VaryRecipe(("accept",), per_credentials=True)
ANONYMOUS = Lookup(SHARED, shared_allowed=True)
WITH_CREDENTIALS = Lookup(PER_USER, shared_allowed=False)


class Target:
    """A request for ``resource`` (a path on a host) with ``query``, whose vary fields all have ``value``."""

    host = "example.com"
    canonical_path = "/path"

    def __init__(self, resource: str = "r1", value: str = "json", user: str = "alice", query: str = "") -> None:
        self.resource, self.value, self.user, self.query = resource, value, user, query

    @property
    def uri_prefix(self) -> str:
        return uri_prefix(self.resource, self.query)

    def variant(self, recipe: VaryRecipe) -> str:
        values = tuple(self.value for _ in recipe.field_names)
        credentials = credentials_mac(b"test secret, 16+ bytes", self.user, None) if recipe.per_credentials else None
        return variant_id(self.resource, self.query, recipe.field_names, values, credentials)


class Saved(Enum):
    """What a save came to, as these tests name it."""

    STORED = "stored"
    INVALIDATED_MEANWHILE = Refusal.SUPERSEDED.value
    NOT_STORED = Refusal.STORAGE_UNAVAILABLE.value


class Entries:
    """One route's entries as these tests use them: found and saved (``EntryStore``), invalidated
    (``Invalidator``); a save asks the storage's time itself, as a request does before its handler."""

    def __init__(self, guard: StorageGuard) -> None:
        self._guard = guard
        self.store = EntryStore(guard, "/route")
        self.invalidator = Invalidator(guard, "/route")
        self.find = self.store.find
        self.invalidate = self.invalidator.invalidate

    def save(self, target: Target, recipe: VaryRecipe, stored: StoredResponse, seen: str | None) -> Saved:
        since = self._guard.storage_time("/route")
        if since is None:
            return Saved.NOT_STORED
        outcome = self.store.save(target, recipe, stored, Seen(seen), (), since)
        return Saved.STORED if isinstance(outcome, Stored) else Saved(outcome.reason.value)


def make(storage: ICacheStorage | None = None, clock: Clock | None = None) -> tuple[Entries, Clock]:
    clock = clock or Clock()
    storage = storage if storage is not None else CollectableInMemoryCacheStorage(clock=clock)
    return Entries(StorageGuard(storage, FaultLog(clock=clock), clock)), clock


def response(clock: Clock, body: bytes = b"x", lifetime: int = 60, public: bool = False) -> StoredResponse:
    return StoredResponse(200, (), body, clock.now, lifetime, public=public)


def found_body(entries: Entries, target: Target, lookup: Lookup, now: float) -> bytes | None:
    found = entries.find(target, lookup, now)
    return None if isinstance(found, Missed) else found.body


def test_a_saved_response_is_found_for_the_same_variant_only() -> None:
    entries, clock = make()

    assert entries.save(Target(), SHARED, response(clock, b"json"), None) is Saved.STORED

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == b"json"
    assert entries.find(Target(value="xml"), ANONYMOUS, clock.now).reason == "vary-miss"  # type: ignore[union-attr]
    assert entries.find(Target("r2"), ANONYMOUS, clock.now) == URI_MISS


def test_a_variant_stored_under_another_recipe_is_found_with_one_more_read() -> None:
    entries, clock = make()
    by_origin = VaryRecipe(("accept", "origin"))
    entries.save(Target(), by_origin, response(clock, b"by origin"), None)

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == b"by origin"


@pytest.mark.parametrize(
    ("recipe", "public", "found"),
    [(SHARED, False, False), (SHARED, True, True), (PER_USER, False, True)],
)
def test_a_request_with_credentials_finds_only_its_own_or_explicitly_shareable_responses(
    recipe: VaryRecipe, public: bool, found: bool
) -> None:
    entries, clock = make()
    entries.save(Target(), recipe, response(clock, public=public), None)

    result = entries.find(Target(), WITH_CREDENTIALS, clock.now)

    assert isinstance(result, StoredResponse) is found


def test_invalidation_hides_every_variant_at_once_and_leaves_only_its_marker() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(value="json"), SHARED, response(clock), None)
    seen = entries.find(Target(value="xml"), ANONYMOUS, clock.now).generation
    entries.save(Target(value="xml"), SHARED, response(clock), seen)
    assert len(storage) == 2  # the index carrying the first response, and the second apart

    assert entries.invalidate("r1", "//h/r1")

    assert entries.find(Target(value="json"), ANONYMOUS, clock.now).reason == "uri-miss"  # type: ignore[union-attr]
    assert len(storage) == 1  # the marker


def test_a_response_of_an_older_generation_is_never_found() -> None:
    entries, clock = make(DictStorage())  # no collect: invalidation writes tombstones
    entries.save(Target(), SHARED, response(clock, b"old"), None)
    entries.invalidate("r1", "//h/r1")
    seen = entries.find(Target(value="xml"), ANONYMOUS, clock.now).generation
    entries.save(Target(value="xml"), SHARED, response(clock, b"new generation"), seen)

    assert entries.find(Target(), ANONYMOUS, clock.now).reason == "vary-miss"  # type: ignore[union-attr]


@pytest.mark.parametrize("seen_before", [True, False])
def test_a_response_computed_before_an_invalidation_is_not_stored_after_it(seen_before: bool) -> None:
    entries, clock = make()
    if seen_before:
        entries.save(Target(), SHARED, response(clock, b"v1"), None)
    seen = entries.find(Target(value="other"), ANONYMOUS, clock.now)
    generation = None if seen == URI_MISS else seen.generation

    entries.invalidate("r1", "//h/r1")  # the write lands while the request's handler runs

    assert entries.save(Target(), SHARED, response(clock, b"old data"), generation) is Saved.INVALIDATED_MEANWHILE
    assert found_body(entries, Target(), ANONYMOUS, clock.now) is None


def test_a_path_with_one_variant_is_one_stored_item() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)

    entries.save(Target(), SHARED, response(clock, b"json"), None)

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == b"json"
    assert len(storage) == 1 and storage.stats()["responses"] == 1  # the index carries the response


def test_a_second_variant_is_stored_apart_and_the_first_stays_with_its_index() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(), SHARED, response(clock, b"json"), None)
    generation = entries.find(Target(), ANONYMOUS, clock.now).generation

    entries.save(Target(value="xml"), SHARED, response(clock, b"xml"), generation)
    entries.save(Target(), SHARED, response(clock, b"json, again"), generation)

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == b"json, again"
    assert found_body(entries, Target(value="xml"), ANONYMOUS, clock.now) == b"xml"
    assert len(storage) == 2 and storage.stats()["responses"] == 2


def test_a_response_in_cache_groups_is_stored_apart_from_its_index() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)

    entries.store.save(Target(), SHARED, response(clock, b"grouped"), Seen(None), ("articles",), clock.now)

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == b"grouped"
    assert len(storage) == 2  # a purge of the group removes the response, never the index


def test_a_response_larger_than_an_index_carries_is_stored_apart() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)
    body = bytes(range(256)) * (MAX_CARRIED_SIZE // 256 + 1)  # does not compress

    entries.save(Target(), SHARED, response(clock, body), None)

    assert found_body(entries, Target(), ANONYMOUS, clock.now) == body
    assert len(storage) == 2


def test_a_carried_response_pushed_off_the_index_by_newer_variants_is_kept_apart() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(query="page=0"), SHARED, response(clock, b"page 0"), None)
    generation = entries.find(Target(query="page=0"), ANONYMOUS, clock.now).generation

    for page in range(1, MAX_VARIANTS_PER_RESOURCE + 2):
        entries.save(Target(query=f"page={page}"), SHARED, response(clock, b"page %d" % page), generation)

    assert found_body(entries, Target(query="page=0"), ANONYMOUS, clock.now) == b"page 0"
    assert storage.stats()["responses"] == MAX_VARIANTS_PER_RESOURCE + 2


def test_a_new_variant_is_carried_once_the_one_carried_before_is_gone() -> None:
    clock = Clock()
    storage = CollectableInMemoryCacheStorage(clock=clock)
    entries, _ = make(storage, clock)
    entries.save(Target(), SHARED, response(clock, b"json", lifetime=10), None)
    clock.advance(11)
    assert entries.find(Target(value="xml"), ANONYMOUS, clock.now) == URI_MISS

    entries.save(Target(value="xml"), SHARED, response(clock, b"xml"), None)

    assert found_body(entries, Target(value="xml"), ANONYMOUS, clock.now) == b"xml"
    assert found_body(entries, Target(), ANONYMOUS, clock.now) is None
    assert len(storage) == 1


def test_entries_past_their_retention_are_not_found_even_if_the_storage_returns_them() -> None:
    entries, clock = make(DictStorage())  # keeps everything forever
    entries.save(Target(), SHARED, response(clock, lifetime=10), None)

    clock.advance(11)

    assert entries.find(Target(), ANONYMOUS, clock.now) == URI_MISS


def test_an_entry_that_does_not_decode_is_a_miss_logged_and_removed(caplog: pytest.LogCaptureFixture) -> None:
    storage = InMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(), SHARED, response(clock), None)
    entries.save(Target(value="xml"), SHARED, response(clock), entries.find(Target(), ANONYMOUS, clock.now).generation)
    variant = Target(value="xml").variant(SHARED)  # stored apart: the index carries the first response
    storage.set(CacheItem(variant, b"not an entry", 60))

    with caplog.at_level(logging.WARNING, logger="chocs_middleware.cache"):
        missed = entries.find(Target(value="xml"), ANONYMOUS, clock.now)
        assert missed.reason == "vary-miss"  # type: ignore[union-attr]

    assert "storage decode failed on route /route" in caplog.text
    with pytest.raises(CacheError):
        storage.get(variant)  # overwritten with an expired tombstone


def test_an_index_that_does_not_decode_is_a_miss_logged_and_removed_with_the_response_it_carried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = InMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(), SHARED, response(clock), None)
    storage.set(CacheItem(Target().resource, b"not an entry", 60))

    with caplog.at_level(logging.WARNING, logger="chocs_middleware.cache"):
        assert entries.find(Target(), ANONYMOUS, clock.now) == URI_MISS

    assert "storage decode failed on route /route" in caplog.text
    with pytest.raises(CacheError):
        storage.get(Target().resource)


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, item_id: str) -> CacheItem:
        self.calls += 1
        raise ConnectionError("down")

    def set(self, item: CacheItem) -> None:
        self.calls += 1
        raise ConnectionError("down")


def test_reads_rest_after_faults_in_a_row_then_one_probe_is_tried() -> None:
    storage = Broken()
    entries, clock = make(storage)

    for _ in range(BREAKER_THRESHOLD + 2):
        assert entries.find(Target(), ANONYMOUS, clock.now).unavailable  # type: ignore[union-attr]
    assert storage.calls == BREAKER_THRESHOLD
    clock.advance(FAULT_REST_SECONDS)
    entries.find(Target(), ANONYMOUS, clock.now)
    entries.find(Target(), ANONYMOUS, clock.now)

    assert storage.calls == BREAKER_THRESHOLD + 1  # the probe failed: resting again


def test_a_refused_write_stops_writes_not_reads() -> None:
    class Full(CollectableInMemoryCacheStorage):
        def compare_and_set_grouped(self, *arguments: object) -> bool | None:
            raise WriteRefused("OOM command not allowed when used memory > 'maxmemory'")

    storage = Full()
    entries, clock = make(storage)
    storage.set(CacheItem("kept", b"x", 60))

    assert entries.save(Target(), SHARED, response(clock), None) is Saved.NOT_STORED
    assert entries.save(Target(), SHARED, response(clock), None) is Saved.NOT_STORED

    assert entries.find(Target(), ANONYMOUS, clock.now) == URI_MISS  # read, not skipped
    assert not entries._guard.reads.failures
