"""The train job's pure parts (no Spark session): which holdout days must carry labels."""

from __future__ import annotations

from datetime import date

from mlgate.config import load_pipeline


def test_the_train_job_checks_the_newest_days_of_the_holdout_for_labels():
    from mlgate.jobs.train_job import newest_holdout_days

    cfg = load_pipeline("fraud")  # holdout [10-15, 10-22) for the run of 10-31
    assert newest_holdout_days(cfg, date(2026, 10, 31)) == [
        date(2026, 10, 19),
        date(2026, 10, 20),
        date(2026, 10, 21),
    ]
    expectations = cfg.gates.data_expectations.model_copy(update={"label_freshness_days": 30})
    wide = cfg.model_copy(
        update={"gates": cfg.gates.model_copy(update={"data_expectations": expectations})}
    )
    assert len(newest_holdout_days(wide, date(2026, 10, 31))) == 7  # never beyond the holdout
    without = cfg.model_copy(
        update={"gates": cfg.gates.model_copy(update={"data_expectations": None})}
    )
    assert newest_holdout_days(without, date(2026, 10, 31)) == [date(2026, 10, 21)]
