"""Storage ids: equal for the same resource and variant, different otherwise, never ambiguous."""

from __future__ import annotations

import hashlib

import pytest

from chocs_middleware.cache.entries.ids import (
    canonical_query,
    credentials_mac,
    group_id,
    resource_id,
    resource_path,
    uri_prefix,
    variant_id,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", ""),
        ("a=1", "a=1"),
        ("b=2&a=1", "a=1&b=2"),
        ("q=a+b", "q=a%20b"),
        ("q=a%20b", "q=a%20b"),
        ("a=2&a=1", "a=2&a=1"),
        ("x=1&", "x=1"),
    ],
)
def test_canonical_query(raw: str, canonical: str) -> None:
    assert canonical_query(raw) == canonical


def test_repeated_parameters_keep_their_order() -> None:
    assert canonical_query("a=1&a=2") != canonical_query("a=2&a=1")


def test_resource_id_is_the_path_on_its_host_whatever_the_host_case() -> None:
    assert resource_id("Example.com", "/p") == resource_id("example.com", "/p")


def test_resource_id_tells_host_and_path_apart() -> None:
    ids = {resource_id("a", "/b"), resource_id("a/b", ""), resource_id("a", "/b?"), resource_id("a", "/bc")}
    assert len(ids) == 4


def test_variant_ids_tell_query_strings_apart_but_not_their_parameter_order() -> None:
    def variant(query: str) -> str:
        return variant_id("r1", canonical_query(query), ("accept",), ("a",))

    assert variant("b=2&a=1") == variant("a=1&b=2")
    assert len({variant(""), variant("a=1"), variant("a=2"), variant("a=1&a=2"), variant("a=2&a=1")}) == 5


def test_every_variant_id_of_a_uri_starts_with_its_prefix() -> None:
    english = variant_id("r1", "page=2", ("accept-language",), ("en",))
    german = variant_id("r1", "page=2", ("accept-language",), ("de",), "alice-mac")

    assert english.startswith(uri_prefix("r1", "page=2")) and german.startswith(uri_prefix("r1", "page=2"))
    assert not english.startswith(uri_prefix("r1", "page=3"))
    assert not english.startswith(uri_prefix("r2", "page=2"))


def test_variant_ids_cannot_be_forged_by_moving_text_between_fields() -> None:
    names = ("accept", "accept-language")
    split = variant_id("r1", "", names, ("text/html", "en"))
    joined = variant_id("r1", "", names, ("text/htmlen", None))
    empty = variant_id("r1", "", names, ("text/htmlen", ""))

    assert len({split, joined, empty}) == 3


def test_variant_ids_depend_on_the_resource_and_the_credentials() -> None:
    base = variant_id("r1", "", ("accept",), ("a",))

    assert base != variant_id("r2", "", ("accept",), ("a",))
    assert base != variant_id("r1", "", ("accept",), ("a",), "alice-mac")
    assert variant_id("r1", "", ("accept",), ("a",), "alice-mac") != variant_id(
        "r1", "", ("accept",), ("a",), "bob-mac"
    )


def test_group_ids_are_per_host_and_case_sensitive() -> None:
    assert group_id("Example.com", "users") == group_id("example.com", "users")
    assert len({group_id("a", "users"), group_id("b", "users"), group_id("a", "Users"), group_id(None, "users")}) == 4


def test_the_credentials_key_part_changes_with_the_secret_and_needs_it() -> None:
    secret, other = b"one secret of sixteen bytes", b"another secret, as long"
    alice = credentials_mac(secret, "Basic YWxpY2U6czNjcjN0", None)

    assert alice == credentials_mac(secret, "Basic YWxpY2U6czNjcjN0", None)  # the same user, the same entry
    assert alice != credentials_mac(other, "Basic YWxpY2U6czNjcjN0", None)
    assert alice != credentials_mac(secret, "Basic YWxpY2U6Z3Vlc3M=", None)
    # without the secret, a guessed password's plain digest does not give the key part
    guessed = hashlib.sha256(repr(("Basic YWxpY2U6czNjcjN0", None)).encode()).hexdigest()
    assert alice != guessed and "czNjcjN0" not in alice


@pytest.mark.parametrize(
    ("path", "as_invalidation_sees_it"),
    [
        ("/users/7", "/users/7"),
        ("/users/007", "/users/7"),
        ("/users/7.0", "/users/7"),
        ("/users/true", "/users/1"),
        ("/users/1e3/orders/0042", "/users/1000/orders/42"),
        ("/users/" + "9" * 15, "/users/" + "9" * 15),
        ("/users/" + "9" * 17, "/users/100000000000000000"),  # beyond a float's exact integers, as chocs parses it
        ("/users/\u0663", "/users/3"),  # a digit of another script, a number to chocs too
        ("/users/\u00b2", "/users/\u00b2"),  # a superscript two is no number
        ("/users/jane", "/users/jane"),
    ],
)
def test_a_number_in_a_path_has_one_spelling_for_invalidation(path: str, as_invalidation_sees_it: str) -> None:
    assert resource_path(path) == as_invalidation_sees_it
