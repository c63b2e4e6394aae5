"""Ages and authorization periods, against dateutil's calendar arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from priorauth.engine.compiled import age_threshold
from priorauth.engine.decide import authorization_end
from priorauth.engine.facts import age_in_years

dates = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))


@settings(max_examples=500)
@given(birth=dates, on=dates)
def test_age_is_relativedelta_years(birth: dt.date, on: dt.date) -> None:
    if birth <= on:
        assert age_in_years(birth, on) == relativedelta(on, birth).years


@settings(max_examples=1000)
@given(birth=dates, on=dates, years=st.integers(0, 130))
def test_age_threshold_is_age_in_years(birth: dt.date, on: dt.date, years: int) -> None:
    """The compiled path's age test (a birth date on or before the date's threshold) is the
    explaining path's, February 29 included."""
    if birth <= on:
        assert (birth <= age_threshold(on, years)) == (age_in_years(birth, on) >= years)


@pytest.mark.parametrize(
    ("birth", "on", "years", "old_enough"),
    [
        ("2008-02-29", "2026-02-28", 18, True),  # the birthday is February 28 in other years
        ("2008-02-29", "2026-02-27", 18, False),
        ("2008-03-01", "2026-02-28", 18, False),
        ("2007-02-28", "2024-02-29", 17, True),  # on February 29, from a year without one
        ("2007-03-01", "2024-02-29", 17, False),
        ("2008-02-29", "2026-03-01", 18, True),
        ("2008-03-02", "2026-03-01", 18, False),
    ],
)
def test_age_threshold_table(birth: str, on: str, years: int, old_enough: bool) -> None:
    b, d = dt.date.fromisoformat(birth), dt.date.fromisoformat(on)
    assert (b <= age_threshold(d, years)) is old_enough
    assert (age_in_years(b, d) >= years) is old_enough


@settings(max_examples=500)
@given(start=dates, months=st.integers(1, 36))
def test_period_ends_the_day_before_the_anniversary(start: dt.date, months: int) -> None:
    end = authorization_end(start, months)
    anniversary = start + relativedelta(months=months)
    if anniversary.day != start.day:  # the day does not exist: the 1st of the next month
        anniversary += relativedelta(days=1)
    assert end == anniversary - dt.timedelta(days=1)
    assert end >= start + relativedelta(months=months) - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-05-04", 12, "2027-05-03"),
        ("2026-06-15", 12, "2027-06-14"),
        ("2027-01-31", 12, "2028-01-30"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2026-03-31", 1, "2026-04-30"),
        ("2026-03-01", 1, "2026-03-31"),
        ("2026-12-31", 6, "2027-06-30"),
        ("2026-08-31", 6, "2027-02-28"),
    ],
)
def test_authorization_end_table(start: str, months: int, end: str) -> None:
    got = authorization_end(dt.date.fromisoformat(start), months)
    assert got == dt.date.fromisoformat(end)


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        ("2008-05-04", "2026-05-04", 18),
        ("2008-05-05", "2026-05-04", 17),
        ("2008-02-29", "2026-02-28", 18),
        ("2008-02-29", "2026-02-27", 17),
        ("2008-02-29", "2026-03-01", 18),
        ("2008-02-29", "2028-02-29", 20),
    ],
)
def test_age_table(birth: str, on: str, age: int) -> None:
    assert age_in_years(dt.date.fromisoformat(birth), dt.date.fromisoformat(on)) == age
