"""``entries``: a stored response's age and freshness, and a resource index's bounds."""

from __future__ import annotations

import pytest

from chocs_middleware.cache.decisions.values import (
    MAX_RECIPES_PER_RESOURCE,
    MAX_VARIANTS_PER_RESOURCE,
    ResourceIndex,
    StoredResponse,
    VaryRecipe,
)

STORED_AT = 1_000.0


def response(**changes: object) -> StoredResponse:
    settings: dict[str, object] = {"lifetime": 60, **changes}
    return StoredResponse(200, (("etag", ('"e"',)), ("last-modified", ("lm",))), b"x", STORED_AT, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(("now", "age"), [(STORED_AT + 7.5, 7.5), (STORED_AT - 0.5, 0.0)])
def test_age_is_time_since_stored_and_never_negative(now: float, age: float) -> None:
    assert response().age_at(now) == age


def test_a_response_stored_further_in_the_future_is_too_old_not_fresh_for_longer() -> None:
    stored = response(stale_if_error=3600)

    age = stored.age_at(STORED_AT - 60)  # the clock stepped back a minute

    assert not stored.is_fresh(age)
    assert not stored.serves_on_error(age)


@pytest.mark.parametrize(
    ("changes", "age", "fresh"),
    [({}, 59.9, True), ({}, 60, False), ({"no_cache": True}, 0, False), ({"lifetime": 0}, 0, False)],
)
def test_fresh_means_younger_than_the_lifetime_and_not_no_cache(
    changes: dict[str, object], age: float, fresh: bool
) -> None:
    assert response(**changes).is_fresh(age) is fresh


def test_ttl_is_whole_seconds_left_and_negative_once_stale() -> None:
    assert (response().ttl(7.9), response().ttl(65)) == (53, -5)


@pytest.mark.parametrize(
    ("age", "while_revalidating", "on_error"),
    [(30, False, True), (60, True, True), (69, True, True), (70, False, True), (89, False, True), (90, False, False)],
)
def test_stale_windows(age: float, while_revalidating: bool, on_error: bool) -> None:
    stored = response(stale_while_revalidate=10, stale_if_error=30)

    assert (stored.serves_while_revalidating(age), stored.serves_on_error(age)) == (while_revalidating, on_error)
    assert stored.retention == 90
    assert stored.retained_until == STORED_AT + 90


def test_validators_are_read_from_the_headers() -> None:
    assert (response().etag, response().last_modified) == ('"e"', "lm")


def test_an_index_lists_at_most_16_variants_newest_last() -> None:
    index = ResourceIndex("g")
    recipe = VaryRecipe(("accept",))
    for number in range(MAX_VARIANTS_PER_RESOURCE + 5):
        index = index.with_variant(recipe, f"v{number}", 2_000.0, now=1_000.0)

    assert len(index.variants) == MAX_VARIANTS_PER_RESOURCE == 16
    assert index.variants[-1] == ("v20", 2_000.0)
    assert index.variants[0][0] == "v5"


def test_an_index_keeps_at_most_4_recipes_newest_last() -> None:
    index = ResourceIndex("g")
    for number in range(MAX_RECIPES_PER_RESOURCE + 2):
        index = index.with_variant(VaryRecipe((f"x-{number}",)), f"v{number}", 2_000.0, now=1_000.0)

    assert len(index.recipes) == MAX_RECIPES_PER_RESOURCE == 4
    assert index.recipes[-1] == VaryRecipe(("x-5",))


def test_listing_a_variant_again_moves_it_last_and_drops_expired_ones() -> None:
    recipe = VaryRecipe(())
    index = ResourceIndex("g").with_variant(recipe, "a", 1_500.0, now=1_000.0)
    index = index.with_variant(recipe, "b", 3_000.0, now=1_000.0)

    later = index.with_variant(recipe, "c", 3_000.0, now=2_000.0)

    assert [variant for variant, _ in later.variants] == ["b", "c"]
    assert later.expires_at == 3_000.0
