"""Times at the edges: RFC 3339 in UTC, milliseconds when exact."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from variance.core.timeutil import format_timestamp, from_micros, parse_timestamp, to_micros


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_714_521_600_123_000, "2024-05-01T00:00:00.123Z"),
        (1_714_521_600_123_456, "2024-05-01T00:00:00.123456Z"),
        (1_709_164_800_000_001, "2024-02-29T00:00:00.000001Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_a_time_is_formatted_in_utc_with_milliseconds_when_exact(micros, text):
    assert format_timestamp(micros) == text
    assert format_timestamp(from_micros(micros)) == text
    assert to_micros(parse_timestamp(text)) == micros


def test_an_int_and_its_datetime_in_any_zone_format_alike():
    rng = random.Random(7)
    for _ in range(2000):
        micros = rng.randrange(0, 253_402_000_000_000_000)
        if rng.random() < 0.5:
            micros -= micros % 1000
        zoned = from_micros(micros).astimezone(timezone(timedelta(hours=rng.randint(-12, 12))))
        assert format_timestamp(micros) == format_timestamp(zoned) == format_timestamp(from_micros(micros))
        assert to_micros(parse_timestamp(format_timestamp(micros))) == micros


def test_a_naive_datetime_is_taken_as_utc_when_parsed():
    assert parse_timestamp("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
