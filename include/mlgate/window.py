"""Every date range of a run, computed in one place (core; imports nothing from mlgate).

A run is for one day ``ds``, the start of its data interval; everything it may know is
known strictly before ``as_of(ds)``, the end of that interval (the next midnight, UTC).
From there, with the config's numbers (``WindowSpec``, built by
``PipelineConfig.window_spec()``):

    history_start     window_start        train_end  holdout_start  holdout_end(=mature_end)  as_of
    |-- feature history --|------ train ------|-- gap --|--- holdout ---|--- not mature yet ---|
                          as_of - training_days                          as_of - maturity_days

- the lake days a run needs (``extract_days``): the training window plus the feature
  history before it, so the oldest training rows still get whole features;
- the days the score job reads (``scoring_days``): the day plus its longest lookback;
- the train / gap / holdout split (``split_bounds``), every range half-open ``[start, end)``.

Naive datetimes here mean UTC; the split bounds are timezone-aware UTC instants, because
PySpark reads a naive datetime in the local zone of the Python process.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mlgate.errors import PermanentError

DAY = timedelta(days=1)
DAY_SECONDS = 86_400

_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": DAY_SECONDS}


def duration_seconds(text: str) -> int:
    """'90s', '15m', '1h', '7d' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 15m, 1h or 7d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day as the half-open range [00:00, next 00:00), naive UTC."""
    start = datetime.combine(day, time.min)
    return start, start + DAY


def as_of(ds: date) -> datetime:
    """End of the data interval of the run for ``ds``: what it may use is known before it."""
    return day_bounds(ds)[1]


class DayNotEnded(ValueError, PermanentError):
    """A run was asked for a day whose data interval has not ended: its data is not whole."""


def refuse_unended_day(ds: date, now: datetime | None = None, *, time_zone: str = "UTC") -> None:
    """Raise ``DayNotEnded`` unless the data interval of ``ds`` has ended at ``now``.

    A run for a day that is still going (today, a future day) would import a partial or
    empty day and judge it as if it were whole. The interval is a UTC day, so "ended" is
    one instant, ``as_of(ds)``; the message also gives it in the pipeline's ``time_zone``.
    ``now`` defaults to the clock (naive means UTC).
    """
    end = utc_instant(as_of(ds))
    moment = utc_instant(now) if now is not None else datetime.now(UTC)
    if moment >= end:
        return
    local = end.astimezone(ZoneInfo(time_zone))
    when = f"{end:%Y-%m-%d %H:%M} UTC"
    if time_zone != "UTC":
        when += f" ({local:%Y-%m-%d %H:%M} {time_zone})"
    raise DayNotEnded(
        f"the day {ds} has not ended yet: its data interval ends at {when}, so its data is "
        f"not complete. Run it after {when}, or give an earlier day (yesterday or before)."
    )


def days_ending(ds: date, count: int) -> list[date]:
    """``count`` consecutive days ending with ``ds``, oldest first."""
    return [ds - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def days_before(ds: date, count: int) -> list[date]:
    """The ``count`` days before ``ds``, newest first (ds itself excluded)."""
    return [ds - timedelta(days=offset) for offset in range(1, count + 1)]


def utc_instant(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


def split_bounds(
    *,
    as_of: datetime,
    maturity_days: float,
    holdout_days: int,
    gap_days: int,
    window_days: int,
) -> dict[str, datetime]:
    """The train / holdout boundaries (aware UTC, each range half-open ``[start, end)``).

    With ``mature_end = as_of - maturity_days``::

        train   = [as_of - window_days,                  mature_end - holdout_days - gap_days)
        gap     = [mature_end - holdout_days - gap_days, mature_end - holdout_days)   unused
        holdout = [mature_end - holdout_days,            mature_end)

    e.g. as_of 2024-03-31, maturity 10, holdout 7, gap 1, window 40 days: train
    [02-20, 03-13), gap [03-13, 03-14), holdout [03-14, 03-21), not mature from 03-21 on.

    Keys: ``train_start``, ``train_end``, ``holdout_start``, ``holdout_end``. Raises
    ``ValueError`` when the training range would be empty.
    """
    as_of = utc_instant(as_of)
    mature_end = as_of - timedelta(days=maturity_days)
    holdout_start = mature_end - timedelta(days=holdout_days)
    bounds = {
        "train_start": as_of - timedelta(days=window_days),
        "train_end": holdout_start - timedelta(days=gap_days),
        "holdout_start": holdout_start,
        "holdout_end": mature_end,
    }
    if bounds["train_start"] >= bounds["train_end"]:
        raise ValueError(
            f"window_days ({window_days}) leaves no training rows before the maturity "
            f"({maturity_days}), holdout ({holdout_days}) and gap ({gap_days}) days"
        )
    return bounds


@dataclass(frozen=True)
class WindowSpec:
    """The numbers of a pipeline's windows (from its config) and every range they give."""

    training_days: int  # labelled history each run trains and evaluates on
    feature_history_days: int  # imported before the window so features are whole
    label_delay: timedelta  # until a row's label is settled: maturity (+ an entity's horizon)
    holdout_days: int  # newest matured days kept for the holdout
    gap_days: int  # between training rows and holdout
    lookback_seconds: tuple[int, ...]  # every lookback of the features

    def problems(self) -> list[str]:
        """What makes these numbers unusable together (empty when they fit)."""
        found = []
        delay_days = math.ceil(self.label_delay / DAY)
        usable = self.training_days - delay_days
        needed = self.holdout_days + self.gap_days + 1
        if usable < needed:
            found.append(
                f"window.training_days ({self.training_days}) minus the label delay "
                f"({delay_days} days: target.maturity_days, plus the horizon of an entity "
                f"target) leaves {usable} labelled days, fewer than "
                f"holdout_days + gap_days + 1 = {needed}"
            )
        if self.max_lookback_seconds() > self.feature_history_days * DAY_SECONDS:
            found.append(
                f"window.feature_history_days ({self.feature_history_days}) is shorter "
                f"than the longest feature lookback ({self.max_lookback_seconds() // DAY_SECONDS}"
                " days): the oldest rows of the window would get incomplete features"
            )
        return found

    def max_lookback_seconds(self) -> int:
        return max(self.lookback_seconds, default=0)

    def lookback_days(self) -> int:
        """Whole days before an event that its features look back into."""
        return math.ceil(self.max_lookback_seconds() / DAY_SECONDS)

    def extract_days(self, ds: date) -> list[date]:
        """The lake days a run on ``ds`` needs: its training window plus feature history."""
        return days_ending(ds, self.training_days + self.feature_history_days)

    def scoring_days(self, ds: date) -> list[date]:
        """The lake days the score job reads for ``ds``: the lookback, then the day itself."""
        return days_ending(ds, self.lookback_days() + 1)

    def window_start(self, ds: date) -> datetime:
        """First instant of the training window (older rows only serve as feature history)."""
        return as_of(ds) - timedelta(days=self.training_days)

    def mature_end(self, ds: date) -> datetime:
        """Rows at or before this instant have had the label delay for their label to settle."""
        return as_of(ds) - self.label_delay

    def recent_mature_days(self, ds: date, count: int) -> list[date]:
        """The ``count`` newest days whose every row is mature on ``ds``, oldest first (with
        a whole-day label delay: the newest days of the holdout)."""
        newest = self.mature_end(ds).date() - DAY  # the day mature_end falls in is not whole
        return days_ending(newest, count) if count > 0 else []

    def split_bounds(self, ds: date) -> dict[str, datetime]:
        """The train / holdout boundaries of the run on ``ds`` (see ``split_bounds``)."""
        return split_bounds(
            as_of=as_of(ds),
            maturity_days=self.label_delay / DAY,
            holdout_days=self.holdout_days,
            gap_days=self.gap_days,
            window_days=self.training_days,
        )

    def data_window(self, ds: date) -> dict[str, str]:
        """The run's ranges as text, for the gate report, the email and the history."""
        bounds = self.split_bounds(ds)
        return {
            "start": utc_instant(self.window_start(ds)).isoformat(),
            "end": utc_instant(as_of(ds)).isoformat(),
            **{key: value.isoformat() for key, value in bounds.items()},
        }
