"""Cache group names from route keywords: templates of the path parameters, or a function."""

from __future__ import annotations

from chocs_middleware.cache.decisions.group_names import GroupNames


def test_group_names_are_formatted_with_the_parsed_path_parameters() -> None:
    names = GroupNames("/users/{user_id}/posts/{draft}", "cache_groups", ("users", "user:{user_id}", "draft:{draft}"))

    assert names.names({"user_id": 1, "draft": True}, request=None) == ("users", "user:1", "draft:true")


def test_one_string_is_one_group_not_one_per_character() -> None:
    assert GroupNames("/users", "cache_groups", "users").names({}, request=None) == ("users",)


def test_a_function_names_groups_from_the_request() -> None:
    one = GroupNames("/x", "cache_invalidates", lambda request: f"group-{request}")
    many = GroupNames("/x", "cache_invalidates", lambda request: ["a", "b", "a"])

    assert one.names({}, request=7) == ("group-7",)
    assert many.names({}, request=7) == ("a", "b")
