from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from chocs_middleware.cache.semantics.entity_tags import (
    ANY,
    MAX_FIELD_LENGTH,
    MAX_MEMBERS,
    EntityTag,
    _parse_list,
    generate_entity_tag,
    identified_for_update,
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


def cost(parse: Callable[[str], object], value: str, rounds: int = 200) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        parse(value)
    return time.perf_counter() - started


def test_parsing_takes_time_in_proportion_to_the_value_even_for_separators() -> None:
    size = MAX_FIELD_LENGTH
    separators_then_a_tag = (", \t" * size)[: size - 3] + '"a"'
    one_long_tag = '"' + "a" * (size - 2) + '"'

    ratio = cost(_parse_list, separators_then_a_tag) / cost(_parse_list, one_long_tag)

    assert _parse_list(separators_then_a_tag) == (EntityTag("a"),)
    assert _parse_list(one_long_tag) == (EntityTag("a" * (size - 2)),)
    assert ratio < 5  # a parser that rescans the rest of the value at each step: ~1,000


def test_64_kib_of_separators_cost_no_more_than_64_kib_of_tags() -> None:
    size = 64 * 1024
    separators = (",," * size)[:size]
    tags = ('"a", ' * size)[:size]

    ratio = cost(parse_entity_tag_list, separators) / cost(parse_entity_tag_list, tags)

    assert parse_entity_tag_list(separators) is None  # over the bound: malformed, so ignored
    assert parse_entity_tag_list(tags) is None
    assert ratio < 5


def test_a_list_of_more_than_64_tags_is_malformed() -> None:
    assert parse_entity_tag_list(", ".join(['"t"'] * MAX_MEMBERS)) == (EntityTag("t"),) * MAX_MEMBERS
    assert parse_entity_tag_list(", ".join(['"t"'] * (MAX_MEMBERS + 1))) is None


@pytest.mark.parametrize(
    ("offered", "validator", "identified"),
    [
        (['"de"', '"en"'], '"en"', 1),
        (['"de"', '"en"'], '"fr"', None),
        (['"de"', '"en"', '"en"'], '"en"', 1),  # the newest of those that match
        (['W/"en"'], '"en"', None),  # a strong tag never confirms a weak one
        (['"de"', 'W/"en"', '"en"'], 'W/"en"', 1),  # a weak one the newest that compares weakly
        (['"de"', None, '"en"'], '"en"', 2),
        (['"de"'], None, 0),  # a bare 304 answers the one question asked
        (['"de"', '"en"'], None, None),  # of several, it names none
        (['"de"'], "garbage in", None),
    ],
)
def test_a_304_confirms_the_stored_response_its_entity_tag_names(
    offered: list[str | None], validator: str | None, identified: int | None
) -> None:
    assert identified_for_update(offered, validator) == identified
