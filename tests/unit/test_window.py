"""Every date range of a run (mlgate.window), on the demo config's numbers worked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mlgate.config import load_pipeline
from mlgate.window import WindowSpec, as_of, day_bounds, days_before, duration_seconds

DS = date(2026, 10, 31)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def spec() -> WindowSpec:
    # the demo config: 40 training days, 14 of feature history, maturity 10, holdout 7, gap 1
    return load_pipeline("fraud").window_spec()


def test_a_day_is_half_open_and_its_run_knows_what_came_before_midnight():
    assert day_bounds(DS) == (datetime(2026, 10, 31), datetime(2026, 11, 1))
    assert as_of(DS) == datetime(2026, 11, 1)


def test_extract_days_cover_the_training_window_and_its_feature_history(spec):
    days = spec.extract_days(DS)
    assert len(days) == 54  # 40 + 14
    assert days[0] == date(2026, 9, 8) and days[-1] == DS
    assert days == sorted(days)


def test_the_training_window_starts_40_days_before_the_end_of_the_interval(spec):
    assert spec.window_start(DS) == datetime(2026, 9, 22)
    assert spec.mature_end(DS) == datetime(2026, 10, 22)


def test_recent_mature_days_are_the_newest_whole_days_of_the_holdout(spec):
    # mature_end 10-22 00:00: 10-21 is the newest day all of whose rows are mature
    assert spec.recent_mature_days(DS, 3) == [
        date(2026, 10, 19),
        date(2026, 10, 20),
        date(2026, 10, 21),
    ]
    assert spec.recent_mature_days(DS, 1) == [date(2026, 10, 21)]
    assert spec.recent_mature_days(DS, 0) == []
    # the holdout [10-15, 10-22) ends with these days
    assert spec.split_bounds(DS)["holdout_end"] == utc(2026, 10, 22)


def test_a_day_cut_by_the_maturity_is_not_a_recent_mature_day():
    half = WindowSpec(
        training_days=40, feature_history_days=14, label_delay=timedelta(days=2, hours=12),
        holdout_days=7, gap_days=1, lookback_seconds=(),
    )  # fmt: skip
    # mature_end 10-29 12:00: the rows of 10-29 after noon are not mature yet
    assert half.mature_end(DS) == datetime(2026, 10, 29, 12)
    assert half.recent_mature_days(DS, 2) == [date(2026, 10, 27), date(2026, 10, 28)]


def test_split_bounds_leave_a_gap_before_the_holdout_of_matured_days(spec):
    assert spec.split_bounds(DS) == {
        "train_start": utc(2026, 9, 22),
        "train_end": utc(2026, 10, 14),  # holdout_start - 1 gap day
        "holdout_start": utc(2026, 10, 15),  # mature_end - 7 holdout days
        "holdout_end": utc(2026, 10, 22),  # as_of - 10 maturity days
    }


def test_the_data_window_names_the_training_window_and_the_split(spec):
    window = spec.data_window(DS)
    assert window["start"] == "2026-09-22T00:00:00+00:00"
    assert window["end"] == "2026-11-01T00:00:00+00:00"
    assert window["holdout_end"] == "2026-10-22T00:00:00+00:00"


def test_scoring_days_reach_back_the_longest_lookback(spec):
    assert spec.lookback_days() == 14  # amount_history and novelty_lookback are 14d
    days = spec.scoring_days(DS)
    assert (days[0], days[-1], len(days)) == (date(2026, 10, 17), DS, 15)


def test_a_lookback_of_part_of_a_day_needs_the_whole_day_before():
    spec = WindowSpec(40, 14, timedelta(days=10), 7, 1, lookback_seconds=(3600, 90_000))
    assert spec.lookback_days() == 2  # 25 hours


def test_days_before_are_newest_first_without_the_day_itself():
    assert days_before(DS, 3) == [date(2026, 10, 30), date(2026, 10, 29), date(2026, 10, 28)]


def test_problems_name_a_window_too_short_for_holdout_and_gap():
    spec = WindowSpec(17, 14, timedelta(days=10), 7, 1, lookback_seconds=(3600,))
    (problem,) = spec.problems()
    assert "leaves 7 labelled days, fewer than holdout_days + gap_days + 1 = 9" in problem


def test_problems_name_a_feature_history_shorter_than_a_lookback():
    spec = WindowSpec(40, 6, timedelta(days=10), 7, 1, lookback_seconds=(7 * 86_400,))
    (problem,) = spec.problems()
    assert "feature_history_days (6) is shorter than the longest feature lookback (7 days)" in (
        problem
    )
    assert (
        WindowSpec(40, 7, timedelta(days=10), 7, 1, lookback_seconds=(7 * 86_400,)).problems() == []
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172_800)]
)
def test_durations(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["1w", "h", "-1d", "1.5h", ""])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="is not a duration"):
        duration_seconds(text)


def test_a_day_is_refused_until_its_data_interval_has_ended():
    from mlgate.window import DayNotEnded, refuse_unended_day

    last_second = datetime(2026, 10, 31, 23, 59, 59)
    with pytest.raises(DayNotEnded) as refused:
        refuse_unended_day(DS, last_second)
    assert "the day 2026-10-31 has not ended yet" in str(refused.value)
    assert "Run it after 2026-11-01 00:00 UTC" in str(refused.value)
    with pytest.raises(DayNotEnded):
        refuse_unended_day(DS + timedelta(days=30), last_second)  # a future day
    refuse_unended_day(DS, datetime(2026, 11, 1))  # the first instant after the day: runs
    refuse_unended_day(DS, utc(2026, 11, 1, 0, 30))


def test_the_refusal_gives_the_end_of_the_day_in_the_pipelines_time_zone_too():
    from mlgate.window import DayNotEnded, refuse_unended_day

    # 23:30 in Paris on 10-31 is 22:30 UTC: the UTC day has not ended
    paris_evening = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)
    with pytest.raises(DayNotEnded) as refused:
        refuse_unended_day(DS, paris_evening, time_zone="Europe/Paris")
    assert "2026-11-01 00:00 UTC (2026-11-01 01:00 Europe/Paris)" in str(refused.value)
