"""``Cache-Groups`` / ``Cache-Group-Invalidation`` (RFC 9875): Lists of Strings, parsed with http-sf."""

from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.groups import MAX_FIELD_LENGTH, ParsedGroups, parse_groups


@pytest.mark.parametrize(
    ("lines", "groups"),
    [
        ([], ()),
        (['"users"'], ("users",)),
        (['"users", "user:1"'], ("users", "user:1")),
        (['"users"', '"user:1"'], ("users", "user:1")),  # several lines are one list
        (['"a";p=1, "b";q'], ("a", "b")),  # parameters are ignored
        (['"Users", "users"'], ("Users", "users")),  # case-sensitive
        (['"a", "a"'], ("a",)),
        (['""'], ("",)),
    ],
)
def test_a_list_of_strings_names_its_groups(lines: list[str], groups: tuple[str, ...]) -> None:
    assert parse_groups(lines) == ParsedGroups(groups)


def test_members_that_are_not_strings_are_ignored_one_by_one() -> None:
    parsed = parse_groups(['"a", token, 7, ("inner" "list"), "b"'])

    assert parsed.groups == ("a", "b")
    assert parsed.problem == "3 member(s) that are not Strings"


@pytest.mark.parametrize("line", ['"a" "b"', '"a",,', '"unterminated', "é"])
def test_a_field_that_is_not_a_list_is_ignored_as_a_whole(line: str) -> None:
    parsed = parse_groups([line])

    assert parsed.groups == ()
    assert parsed.problem is not None and parsed.problem.startswith("not a Structured Fields List of Strings")


def test_a_field_longer_than_the_bound_is_not_parsed() -> None:
    parsed = parse_groups(['"' + "a" * MAX_FIELD_LENGTH + '"'])

    assert parsed == ParsedGroups((), f"longer than {MAX_FIELD_LENGTH} characters")
