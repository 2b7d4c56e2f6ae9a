"""``EntryStore``: the index + variants + generation model on a storage, and its fault containment."""

from __future__ import annotations

import logging

import pytest

from chocs_middleware.cache import (
    CacheError,
    CacheItem,
    CollectableInMemoryCacheStorage,
    ICacheStorage,
    InMemoryCacheStorage,
)
from chocs_middleware.cache.entries import StoredResponse, VaryRecipe
from chocs_middleware.cache.entry_store import FAULT_REST_SECONDS, URI_MISS, VARY_MISS, EntryStore, StorageGuard
from chocs_middleware.cache.faults import FaultLog
from chocs_middleware.cache.keys import variant_id
from chocs_middleware.cache.policy import Lookup
from tests.conftest import Clock
from tests.storages import DictStorage

SHARED = VaryRecipe(("accept",))
PER_USER = VaryRecipe(("accept",), per_credentials=True)
ANONYMOUS = Lookup(SHARED, shared_allowed=True)
WITH_CREDENTIALS = Lookup(PER_USER, shared_allowed=False)


class Target:
    """A request for ``resource`` whose vary fields all have ``value``."""

    def __init__(self, resource: str = "r1", value: str = "json", user: str = "alice") -> None:
        self.resource, self.value, self.user = resource, value, user

    def variant(self, recipe: VaryRecipe) -> str:
        values = tuple(self.value for _ in recipe.field_names)
        credentials = (self.user,) if recipe.per_credentials else None
        return variant_id(self.resource, recipe.field_names, values, credentials)


def make(storage: ICacheStorage | None = None, clock: Clock | None = None) -> tuple[EntryStore, Clock]:
    clock = clock or Clock()
    storage = storage if storage is not None else CollectableInMemoryCacheStorage(clock=clock)
    return EntryStore(StorageGuard(storage, FaultLog(clock=clock), clock), "/route"), clock


def response(clock: Clock, body: bytes = b"x", lifetime: int = 60, public: bool = False) -> StoredResponse:
    return StoredResponse(200, (), body, clock.now, lifetime, public=public)


def test_a_saved_response_is_found_for_the_same_variant_only() -> None:
    entries, clock = make()

    assert entries.save(Target(), SHARED, response(clock, b"json"))

    assert entries.find(Target(), ANONYMOUS, clock.now).body == b"json"  # type: ignore[union-attr]
    assert entries.find(Target(value="xml"), ANONYMOUS, clock.now) == VARY_MISS
    assert entries.find(Target("r2"), ANONYMOUS, clock.now) == URI_MISS


def test_a_variant_stored_under_another_recipe_is_found_with_one_more_read() -> None:
    entries, clock = make()
    by_origin = VaryRecipe(("accept", "origin"))
    entries.save(Target(), by_origin, response(clock, b"by origin"))

    assert entries.find(Target(), ANONYMOUS, clock.now).body == b"by origin"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("recipe", "public", "found"),
    [(SHARED, False, False), (SHARED, True, True), (PER_USER, False, True)],
)
def test_a_request_with_credentials_finds_only_its_own_or_explicitly_shareable_responses(
    recipe: VaryRecipe, public: bool, found: bool
) -> None:
    entries, clock = make()
    entries.save(Target(), recipe, response(clock, public=public))

    result = entries.find(Target(), WITH_CREDENTIALS, clock.now)

    assert isinstance(result, StoredResponse) is found


def test_invalidation_removes_every_variant_at_once() -> None:
    storage = CollectableInMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(value="json"), SHARED, response(clock))
    entries.save(Target(value="xml"), SHARED, response(clock))
    assert len(storage) == 3

    entries.invalidate("r1")

    assert entries.find(Target(value="json"), ANONYMOUS, clock.now) == URI_MISS
    assert len(storage) == 0


def test_a_response_of_an_older_generation_is_never_found() -> None:
    entries, clock = make(DictStorage())  # no collect: invalidation writes tombstones
    entries.save(Target(), SHARED, response(clock, b"old"))
    entries.invalidate("r1")
    entries.save(Target(value="xml"), SHARED, response(clock, b"new generation"))

    assert entries.find(Target(), ANONYMOUS, clock.now) == VARY_MISS


def test_entries_past_their_retention_are_not_found_even_if_the_storage_returns_them() -> None:
    entries, clock = make(DictStorage())  # keeps everything forever
    entries.save(Target(), SHARED, response(clock, lifetime=10))

    clock.advance(11)

    assert entries.find(Target(), ANONYMOUS, clock.now) == URI_MISS


def test_an_entry_that_does_not_decode_is_a_miss_logged_and_removed(caplog: pytest.LogCaptureFixture) -> None:
    storage = InMemoryCacheStorage()
    entries, clock = make(storage)
    entries.save(Target(), SHARED, response(clock))
    variant = Target().variant(SHARED)
    storage.set(CacheItem(variant, b"not an entry", 60))

    with caplog.at_level(logging.WARNING, logger="chocs_middleware.cache"):
        assert entries.find(Target(), ANONYMOUS, clock.now) == VARY_MISS

    assert "storage decode failed on route /route" in caplog.text
    with pytest.raises(CacheError):
        storage.get(variant)  # overwritten with an expired tombstone


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, item_id: str) -> CacheItem:
        self.calls += 1
        raise ConnectionError("down")

    def set(self, item: CacheItem) -> None:
        self.calls += 1
        raise ConnectionError("down")


def test_after_a_fault_the_storage_rests_then_is_tried_again() -> None:
    storage = Broken()
    entries, clock = make(storage)

    assert entries.find(Target(), ANONYMOUS, clock.now) == URI_MISS
    assert not entries.save(Target(), SHARED, response(clock))
    assert storage.calls == 1
    clock.advance(FAULT_REST_SECONDS)
    entries.find(Target(), ANONYMOUS, clock.now)

    assert storage.calls == 2
