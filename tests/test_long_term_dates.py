"""Periods a query names, numeric dates included (day first, as most of the world writes them)."""

from datetime import UTC, datetime

from memory.long_term.timeframe import numeric_date, period_in

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_numeric_dates_are_read_day_first_unless_only_month_first_makes_a_date() -> None:
    assert numeric_date("what did we do on 29.12.2023?") == datetime(2023, 12, 29)
    assert numeric_date("on 07.01.2024") == datetime(2024, 1, 7)
    assert numeric_date("on 1/2/24") == datetime(2024, 2, 1)
    assert numeric_date("on 12/29/2023") == datetime(2023, 12, 29)  # only month first makes a date
    assert numeric_date("on 2023-12-29") == datetime(2023, 12, 29)
    assert numeric_date("on 31.02.2024") is None
    assert numeric_date("version 1.2.3 and 3.14") is None


def test_a_numeric_date_or_month_is_the_period_the_query_names() -> None:
    assert period_in("what happened on 29.12.2023", NOW) == (
        datetime(2023, 12, 29, tzinfo=UTC),
        datetime(2023, 12, 30, tzinfo=UTC),
    )
    assert period_in("plans for 12.2023?", NOW) == (datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
    assert period_in("where did I go in May 2023", NOW) == (
        datetime(2023, 5, 1, tzinfo=UTC),
        datetime(2023, 6, 1, tzinfo=UTC),
    )
    assert period_in("what did I eat yesterday", NOW) == (datetime(2024, 2, 29, 12, tzinfo=UTC), NOW)
    assert period_in("pi is 3.14", NOW) is None
