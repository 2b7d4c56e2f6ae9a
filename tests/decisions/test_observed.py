"""What the handler read becomes the key (decisions/observed.py)."""

from __future__ import annotations

import pytest

from chocs_middleware.cache.decisions.observed import (
    NOTHING_IGNORED,
    ReadInputs,
    describe_key,
    ignored_inputs,
    observed_recipe,
)
from chocs_middleware.cache.decisions.values import VaryRecipe

DECLARED = ("accept",)


def test_nothing_observed_is_declared_keying() -> None:
    assert observed_recipe(DECLARED, False, None, NOTHING_IGNORED) == VaryRecipe(("accept",))


def test_a_handler_that_reads_nothing_is_keyed_on_no_query_parameter() -> None:
    recipe = observed_recipe(DECLARED, False, ReadInputs(), NOTHING_IGNORED)

    assert recipe == VaryRecipe(("accept",), False, (), (), False) and recipe.observed


def test_headers_cookies_and_parameters_read_join_the_key_sorted() -> None:
    read = ReadInputs(frozenset({"x-tenant", "accept"}), frozenset({"session", "a"}), frozenset({"q", "page"}))

    recipe = observed_recipe(DECLARED, False, read, NOTHING_IGNORED)

    assert recipe == VaryRecipe(("accept", "x-tenant"), False, ("a", "session"), ("page", "q"), False)


def test_fields_the_cache_interprets_are_not_keyed_on() -> None:
    read = ReadInputs(frozenset({"host", "if-none-match", "range", "cache-control", "pragma", "if-modified-since"}))

    assert observed_recipe(DECLARED, False, read, NOTHING_IGNORED).field_names == DECLARED


def test_authorization_read_keys_per_credentials_unless_the_response_is_shareable() -> None:
    read = ReadInputs(frozenset({"authorization"}))

    assert observed_recipe(DECLARED, False, read, NOTHING_IGNORED).per_credentials
    assert not observed_recipe(DECLARED, False, read, NOTHING_IGNORED, shareable=True).per_credentials
    assert "authorization" not in observed_recipe(DECLARED, False, read, NOTHING_IGNORED).field_names


@pytest.mark.parametrize("read", [ReadInputs(frozenset({"cookie"})), ReadInputs(every_cookie=True)])
def test_the_whole_cookie_field_read_keys_on_every_cookie(read: ReadInputs) -> None:
    assert observed_recipe(DECLARED, False, read, NOTHING_IGNORED).cookies == ("*",)


@pytest.mark.parametrize(("names", "per_credentials"), [(("accept", "cookie"), False), (DECLARED, True)])
def test_every_cookie_is_not_said_again_when_the_key_holds_the_whole_field(
    names: tuple[str, ...], per_credentials: bool
) -> None:
    recipe = observed_recipe(names, per_credentials, ReadInputs(every_cookie=True), NOTHING_IGNORED)

    assert recipe.cookies == ()


def test_every_header_read_is_kept_per_credentials_which_holds_every_cookie() -> None:
    recipe = observed_recipe(DECLARED, False, ReadInputs(every_header=True), NOTHING_IGNORED)

    assert recipe.every_header and recipe.per_credentials and recipe.cookies == ()


def test_every_header_read_on_a_shareable_response_keys_on_every_cookie() -> None:
    recipe = observed_recipe(DECLARED, False, ReadInputs(every_header=True), NOTHING_IGNORED, shareable=True)

    assert recipe.every_header and not recipe.per_credentials and recipe.cookies == ("*",)


def test_every_parameter_read_keys_on_the_whole_query() -> None:
    assert observed_recipe(DECLARED, False, ReadInputs(every_query=True), NOTHING_IGNORED).queries is None


def test_ignored_inputs_never_join_the_key() -> None:
    ignored = ignored_inputs("/r", ("header:user-*", "cookie:_ga*", "query:utm_*"))
    read = ReadInputs(
        frozenset({"user-agent", "x-team"}), frozenset({"_ga", "_gat", "s"}), frozenset({"utm_source", "q"})
    )

    recipe = observed_recipe(DECLARED, False, read, ignored)

    assert (recipe.field_names, recipe.cookies, recipe.queries) == (("accept", "x-team"), ("s",), ("q",))


def test_ignored_header_patterns_are_matched_without_regard_to_case() -> None:
    assert ignored_inputs("/r", ("header:User-Agent",)).header("user-agent")


def test_the_key_described_names_every_input() -> None:
    recipe = VaryRecipe(("accept",), True, ("s",), None, False)

    assert describe_key(recipe) == "header:accept cookie:s query:* credentials"
