from __future__ import annotations

import pytest

from chocs_middleware.cache.semantics.dates import format_http_date, parse_http_date

SUNDAY = 784111777.0


def test_format_is_imf_fixdate() -> None:
    assert format_http_date(SUNDAY) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "value",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
)
def test_the_three_rfc_9110_formats_parse(value: str) -> None:
    assert parse_http_date(value) == SUNDAY


@pytest.mark.parametrize("value", ["", "yesterday", "Sun, 06 Nov 1994", "0", "Sun, 99 Nov 1994 08:49:37 GMT"])
def test_malformed_dates_are_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_a_value_far_longer_than_a_date_is_not_one() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100) is None
