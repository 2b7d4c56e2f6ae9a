from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.entity_tags import (
    ANY,
    EntityTag,
    generate_entity_tag,
    parse_entity_tag,
    parse_entity_tag_list,
)


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        ('"a"', (EntityTag("a"),)),
        ('W/"a"', (EntityTag("a", weak=True),)),
        ('"x", "a"', (EntityTag("x"), EntityTag("a"))),
        ('  "x"  ,W/"a"', (EntityTag("x"), EntityTag("a", weak=True))),
        ('"a,b", "c"', (EntityTag("a,b"), EntityTag("c"))),
        ('"a",, "b",', (EntityTag("a"), EntityTag("b"))),
        ('""', (EntityTag(""),)),
        ("1", (EntityTag("1"),)),
    ],
)
def test_lists_parse(value: str, tags: tuple[EntityTag, ...]) -> None:
    assert parse_entity_tag_list(value) == tags


def test_star_is_any() -> None:
    assert parse_entity_tag_list(" * ") == ANY


@pytest.mark.parametrize("value", ["", '"unterminated', '"a""b"', 'W/ "a"', ", ,", 'W/"a" junk"'])
def test_malformed_lists_are_none(value: str) -> None:
    assert parse_entity_tag_list(value) is None


def test_strong_comparison_refuses_weak_tags() -> None:
    assert EntityTag("a").strong_match(EntityTag("a"))
    assert not EntityTag("a").strong_match(EntityTag("a", weak=True))
    assert not EntityTag("a", weak=True).strong_match(EntityTag("a", weak=True))
    assert not EntityTag("a").strong_match(EntityTag("b"))


def test_weak_comparison_ignores_weakness() -> None:
    assert EntityTag("a", weak=True).weak_match(EntityTag("a"))
    assert not EntityTag("a").weak_match(EntityTag("b", weak=True))


def test_a_single_tag_parses_and_prints_back() -> None:
    assert str(parse_entity_tag('W/"v1"')) == 'W/"v1"'
    assert parse_entity_tag('"a", "b"') is None


def test_generated_tags_depend_on_the_body_only() -> None:
    assert generate_entity_tag(b"body") == generate_entity_tag(b"body")
    assert generate_entity_tag(b"body") != generate_entity_tag(b"body!")
    assert parse_entity_tag(generate_entity_tag(b"body")) == EntityTag(generate_entity_tag(b"body")[1:-1])
