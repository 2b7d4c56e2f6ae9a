from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.vary import (
    ANY,
    is_field_name,
    merge_field_names,
    normalise_field_value,
    parse_vary,
)


@pytest.mark.parametrize(
    ("lines", "names"),
    [
        (["Accept"], ("accept",)),
        (["Accept, Accept-Language"], ("accept", "accept-language")),
        (["accept,,  x-a ", "X-A, x-b"], ("accept", "x-a", "x-b")),
        ([""], ()),
        (["accept, *"], (ANY,)),
    ],
)
def test_parse_vary(lines: list[str], names: tuple[str, ...]) -> None:
    assert parse_vary(lines) == names


def test_merge_keeps_first_seen_order_without_duplicates() -> None:
    assert merge_field_names(("accept", "Accept-Language"), ("x-a", "ACCEPT")) == (
        "accept",
        "accept-language",
        "x-a",
    )


@pytest.mark.parametrize(
    ("lines", "value"),
    [
        (["en"], "en"),
        (["en,de"], "en, de"),
        (["en ,  de"], "en, de"),
        (["en", "de"], "en, de"),
        ([" en "], "en"),
    ],
)
def test_field_values_are_normalised(lines: list[str], value: str) -> None:
    assert normalise_field_value(lines) == value


@pytest.mark.parametrize(("name", "valid"), [("accept", True), ("x-a_b.c", True), ("a b", False), ("", False)])
def test_field_names_are_tokens(name: str, valid: bool) -> None:
    assert is_field_name(name) is valid
