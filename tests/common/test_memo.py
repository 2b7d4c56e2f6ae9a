"""Bounded memos keep what is asked for again, within a fixed number of entries."""

from __future__ import annotations

from dataclasses import dataclass

from chocs_middleware.cache.common.memo import BoundedMemo, worked_out_once


def test_a_full_memo_forgets_its_oldest_quarter_and_keeps_the_newest() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(str.upper, 8, 16)
    for key in "abcdefgh":
        memo(key)

    memo("i")

    assert sorted(memo) == list("cdefghi")  # "a" and "b" went at once; one more key fits in their room
    assert memo("i") == "I" and len(memo) == 7


def test_a_memo_keeps_no_key_beyond_its_size_bound() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(str.upper, 8, 4)

    assert memo("large") == "LARGE"
    assert "large" not in memo and memo("tiny") == "TINY" and "tiny" in memo


def test_a_memo_stays_within_its_bound_whatever_number_of_keys_it_is_given() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(str.upper, 100, 16)

    for number in range(10_000):
        memo(str(number))

    assert len(memo) <= 100 and "9999" in memo


@dataclass(frozen=True)
class Answer:
    text: str
    asked: list[str]

    @worked_out_once
    def shouted(self) -> str:
        self.asked.append(self.text)
        return self.text.upper()


def test_a_property_worked_out_once_is_worked_out_on_first_use_only() -> None:
    answer = Answer("hello", [])

    assert (answer.shouted, answer.shouted) == ("HELLO", "HELLO")
    assert answer.asked == ["hello"]
    assert Answer.shouted.__doc__ is None and isinstance(Answer.__dict__["shouted"], worked_out_once)
