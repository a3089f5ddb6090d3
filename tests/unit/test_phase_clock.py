"""PhaseClock: each Spark job's seconds per phase, in the run folder."""

import json

from mlgate.runs import JOB_PHASES_FILE, PhaseClock, run_file


def test_phases_add_up_per_name_and_each_job_keeps_its_own_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    ticks = iter([10.0, 12.5, 20.0, 21.0, 30.0, 30.25])
    monkeypatch.setattr("mlgate.runs.time.monotonic", lambda: next(ticks))
    train = PhaseClock("fraud", "2026-10-31", "train")
    with train.phase("fit"):
        pass
    with train.phase("evaluate"):
        pass
    with train.phase("fit"):  # a second stretch of the same phase adds up
        pass
    train.write()
    PhaseClock("fraud", "2026-10-31", "features").write()

    phases = json.loads(run_file("fraud", "2026-10-31", JOB_PHASES_FILE).read_text())
    assert phases == {"train": {"fit": 2.75, "evaluate": 1.0}, "features": {}}


def test_a_phase_that_raises_is_still_timed(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    ticks = iter([0.0, 4.0])
    monkeypatch.setattr("mlgate.runs.time.monotonic", lambda: next(ticks))
    clock = PhaseClock("fraud", "2026-10-31", "features")
    try:
        with clock.phase("raw_suite"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert clock.seconds == {"raw_suite": 4.0}
