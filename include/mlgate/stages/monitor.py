"""The monitor DAG's task: how the served model did on a day, and whether to retrain.

For the day ``ds`` the champion scored (the score DAG's ``scores/ds=<day>``, model inputs
kept with the scores):

- **drift** of every model input and of the score against the reference rows kept with
  that model version (``runs.REFERENCE_ARTIFACT``, a sample of its holdout), judged by
  ``gates.drift`` (significant for the rows seen, and large enough to matter);
- **realised performance** of each scoring day whose labels have matured since: its scores
  joined with the labels of the newest feature table (the labels training uses), judged by
  ``gates.realised`` against what the version's holdout promised;
- **freshness**: how old the newest lake, label, feature and score days are;
- the **streaks**: drift on this many days in a row, realised performance short on this
  many scoring days in a row; at ``monitoring.retrain_after_days`` (and every as many days
  more) the monitor asks for a retrain.

Everything lands in ``monitor/ds=<day>/`` (``monitor.json``, ``report.html``), in an MLflow
run of the experiment ``<model>.monitor`` (one per day: a rerun replaces it) and in the
serving app's Prometheus metrics. No Airflow here: the DAG publishes the asset event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from mlgate.config import PipelineConfig
from mlgate.config.target import MATURE_COLUMN
from mlgate.gates.drift import CATEGORICAL, NUMERIC, DriftRule, breached_streak, day_drift
from mlgate.gates.drift import retrain_due as drift_retrain_due
from mlgate.gates.realised import AT_THRESHOLD, RANKING, realised_day
from mlgate.paths import (
    MONITOR_FILE,
    features_partition,
    monitor_partition,
    realised_path,
    reference_cache,
    scores_partition,
    table_partition,
    write_json,
)
from mlgate.serving.batch import PROBABILITY, SCORES_META

log = logging.getLogger("mlgate.monitor")

REPORT_FILE = "report.html"
SCORE_FEATURE = "score"  # the score's row among the drifts: the reference's column too
PROMISED = (*RANKING, *AT_THRESHOLD)  # the holdout metrics realised performance is held to


@dataclass(frozen=True)
class ServedVersion:
    """The model version that scored a day, with what it was trained and judged on."""

    version: str
    run_id: str
    threshold: float
    reference: object | None  # pandas DataFrame of the reference rows, None when not kept
    promised: dict[str, float]  # holdout metrics by name


def served_day(cfg: PipelineConfig, ds: date) -> dict:
    """The score job's record of the day (model version, run, threshold), or a clear error."""
    meta_path = scores_partition(cfg.name, ds.isoformat()) / SCORES_META
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{meta_path} is missing: the day has not been scored; run {cfg.dag_id('score')} "
            f"for {ds} first"
        )
    return json.loads(meta_path.read_text())


# --- drift ----------------------------------------------------------------------------------


def model_inputs(cfg: PipelineConfig) -> dict[str, str]:
    """Every model input by kind (numeric or categorical), as the score job keeps them."""
    numeric, categorical = cfg.features.model_inputs()
    kept = (cfg.row_key, cfg.row_time, PROBABILITY)
    kinds = {name: NUMERIC for name in numeric if name not in kept}
    kinds.update({name: CATEGORICAL for name in categorical if name not in kept})
    return kinds


def _values(frame, column: str, kind: str):
    """A column's values as the drift rule takes them: numbers without the missing ones
    (their share is not judged), categories with None for missing."""
    series = frame[column]
    if kind == NUMERIC:
        return series.dropna().to_numpy(dtype=float)
    return [None if value is None or value != value else value for value in series.tolist()]


def drift_of_day(cfg: PipelineConfig, reference, day, rule: DriftRule) -> tuple[list, list]:
    """(drifts, skipped): every model input and the score judged against the reference;
    a feature without values on either side is skipped with the reason."""
    kinds = {**model_inputs(cfg), SCORE_FEATURE: NUMERIC}
    columns = {**{name: name for name in kinds}, SCORE_FEATURE: PROBABILITY}
    ref, cur, skipped = {}, {}, []
    for name, kind in kinds.items():
        if name not in reference.columns or columns[name] not in day.columns:
            skipped.append({"feature": name, "why": "not kept with the reference or the day"})
            continue
        ref_values = _values(reference, name, kind)
        cur_values = _values(day, columns[name], kind)
        if len(ref_values) == 0 or len(cur_values) == 0:
            skipped.append({"feature": name, "why": "no value in the reference or on the day"})
            continue
        ref[name], cur[name] = (kind, ref_values), cur_values
    return (day_drift(ref, cur, rule) if ref else []), skipped


# --- realised performance -------------------------------------------------------------------


def newest_day(folder: Path) -> date | None:
    """The newest ``ds=<day>`` folder in ``folder`` (None when there is none)."""
    days = sorted(p.name[3:] for p in folder.glob("ds=*") if p.is_dir())
    return date.fromisoformat(days[-1]) if days else None


def labels_source(cfg: PipelineConfig, ds: date) -> date | None:
    """The day of the newest feature table on or before ``ds``: its labels are the freshest
    training knows."""
    folder = features_partition(cfg.name, ds.isoformat()).parent
    days = sorted(
        date.fromisoformat(p.name[3:])
        for p in folder.glob("ds=*")
        if p.is_dir() and p.name[3:] <= ds.isoformat()
    )
    return days[-1] if days else None


def labelled_days(cfg: PipelineConfig, labels_day: date) -> tuple[date, date]:
    """(first, last) day whose every row has a matured label in the feature table of
    ``labels_day``."""
    spec = cfg.window_spec()
    return spec.window_start(labels_day).date(), spec.recent_mature_days(labels_day, 1)[0]


def matured_days(cfg: PipelineConfig, labels_day: date, ds: date) -> list[date]:
    """Scoring days whose every label has matured in the feature table of ``labels_day``,
    that were scored, fall in its window, and have no realised record yet (oldest first)."""
    first, newest = labelled_days(cfg, labels_day)
    days = []
    day = first
    while day <= min(newest, ds):
        scored = (scores_partition(cfg.name, day.isoformat()) / SCORES_META).exists()
        if scored and not realised_path(cfg.name, day.isoformat()).exists():
            days.append(day)
        day += timedelta(days=1)
    return days


def day_labels(cfg: PipelineConfig, labels_day: date, day: date):
    """(row key, label) of the day's rows whose label matured, from a feature table."""
    import pandas as pd
    import pyarrow.dataset as ds_

    from mlgate.window import day_bounds

    start, end = day_bounds(day)
    table = ds_.dataset(str(features_partition(cfg.name, labels_day.isoformat())))
    zone = getattr(table.schema.field(cfg.row_time).type, "tz", None)  # an instant: UTC
    start, end = (pd.Timestamp(t, tz="UTC" if zone else None) for t in (start, end))
    time = ds_.field(cfg.row_time)
    rows = table.to_table(
        columns=[cfg.row_key, cfg.target.name, MATURE_COLUMN],
        filter=(time >= start) & (time < end),
    ).to_pandas()
    mature = rows[rows[MATURE_COLUMN].astype(bool)]
    return mature[[cfg.row_key, cfg.target.name]]


def realised_of(cfg: PipelineConfig, day: date, labels_day: date, served) -> dict | None:
    """The realised performance of one scoring day, or None when none of its rows has a
    matured label in the feature table. ``served(version, run_id)`` gives the version's
    ``ServedVersion`` (the day may have been scored by an earlier champion)."""
    import pandas as pd

    meta = json.loads((scores_partition(cfg.name, day.isoformat()) / SCORES_META).read_text())
    scores = pd.read_parquet(
        scores_partition(cfg.name, day.isoformat()), columns=[cfg.row_key, PROBABILITY]
    )
    joined = scores.merge(day_labels(cfg, labels_day, day), on=cfg.row_key, how="inner")
    if joined.empty:
        return None
    version = served(meta["model_version"], meta["run_id"])
    settings = cfg.monitoring.realised
    found = realised_day(
        day.isoformat(),
        version.version,
        joined[cfg.target.name].to_numpy(),
        joined[PROBABILITY].to_numpy(),
        float(meta["threshold"]),
        version.promised,
        confidence=settings.confidence,
        tolerance=settings.tolerance,
    )
    record = {
        **asdict(found),
        "promised": version.promised,
        "labels_from": labels_day.isoformat(),
        "scored_rows": int(len(scores)),
    }
    write_json(realised_path(cfg.name, day.isoformat()), record)
    return record


def realised_streak(cfg: PipelineConfig, ds: date) -> int:
    """Scoring days in a row, up to the newest judged one on or before ``ds``, whose realised
    performance fell short of what the version that scored it promised."""
    folder = realised_path(cfg.name, ds.isoformat()).parent
    records = []
    for path in sorted(folder.glob("ds=*.json")):
        if path.stem[3:] <= ds.isoformat():
            records.append(json.loads(path.read_text()))
    shorts, previous = [], None
    for record in records:
        day = date.fromisoformat(record["day"])
        if previous is not None and day != previous + timedelta(days=1):
            shorts.clear()  # a day without a record breaks the run
        shorts.append(bool(record["short"]))
        previous = day
    return breached_streak(shorts)


# --- freshness and streaks ------------------------------------------------------------------


def freshness(cfg: PipelineConfig, ds: date) -> dict[str, int | None]:
    """Days between ``ds`` and the newest day of each input the monitor relies on."""
    folders = {
        "events": table_partition(cfg.name, cfg.source.events.table, "x").parent,
        "labels": table_partition(cfg.name, cfg.target.label_table, "x").parent,
        "features": features_partition(cfg.name, "x").parent,
        "scores": scores_partition(cfg.name, "x").parent,
    }
    ages = {}
    for name, folder in folders.items():
        newest = newest_day(folder)
        ages[name] = (ds - newest).days if newest is not None else None
    return ages


def drift_streak(cfg: PipelineConfig, ds: date, breached_today: bool) -> int:
    """Days in a row, up to ``ds``, on which the served model's inputs or score drifted (a
    day the monitor did not judge breaks the run). Whichever version served: a daily
    retrain promotes a new one most days, and its reference rows (its holdout, labels
    matured) lag the newest days, so a lasting shift shows against each of them."""
    days = [breached_today]
    day = ds - timedelta(days=1)
    while True:
        path = monitor_partition(cfg.name, day.isoformat()) / MONITOR_FILE
        if not path.exists() or not json.loads(path.read_text())["drift_breached"]:
            break
        days.insert(0, True)
        day -= timedelta(days=1)
    return breached_streak(days)


def retrain_reason(cfg: PipelineConfig, streaks: dict[str, int]) -> str | None:
    """Why the monitor asks for a retrain today, or None."""
    after = cfg.monitoring.retrain_after_days
    reasons = []
    if drift_retrain_due(streaks["drift"], after):
        reasons.append(f"drift on {streaks['drift']} days in a row")
    if drift_retrain_due(streaks["realised"], after):
        reasons.append(
            f"realised performance short of the holdout's on {streaks['realised']} scoring "
            "days in a row"
        )
    return "; ".join(reasons) or None


# --- the day --------------------------------------------------------------------------------


def assess_day(cfg: PipelineConfig, ds: date, served) -> dict:
    """Judge the day ``ds`` and write its record; ``served(version, run_id)`` gives a
    ``ServedVersion`` (from MLflow in the DAG, made by hand in tests)."""
    import pandas as pd

    meta = served_day(cfg, ds)
    version = served(meta["model_version"], meta["run_id"])
    settings = cfg.monitoring.drift
    rule = DriftRule(alpha=settings.alpha, min_psi=settings.min_psi, bins=settings.bins)
    day = pd.read_parquet(scores_partition(cfg.name, ds.isoformat()))
    if version.reference is None:
        drifts, skipped = [], []
        drift_note = (
            f"version {version.version} kept no reference rows (trained before the monitor "
            "existed): drift is measured from the next promoted version on"
        )
    elif day.empty:
        drifts, skipped, drift_note = [], [], "the day has no scored rows"
    else:
        drifts, skipped = drift_of_day(cfg, version.reference, day, rule)
        drift_note = None
    drift_breached = any(d.drifted for d in drifts)

    labels_day = labels_source(cfg, ds)
    realised = []
    if labels_day is not None:
        for scoring_day in matured_days(cfg, labels_day, ds):
            found = realised_of(cfg, scoring_day, labels_day, served)
            if found is not None:
                realised.append(found)
    streaks = {
        "drift": drift_streak(cfg, ds, drift_breached),
        "realised": realised_streak(cfg, ds),
    }
    reason = retrain_reason(cfg, streaks)
    record = {
        "ds": ds.isoformat(),
        "pipeline": cfg.name,
        "model_name": cfg.model_name,
        "model_version": version.version,
        "run_id": version.run_id,
        "threshold": float(meta["threshold"]),
        "rows": int(len(day)),
        "drift": [asdict(d) for d in drifts],
        "drift_skipped": skipped,
        "drift_note": drift_note,
        "drift_breached": drift_breached,
        "drift_rule": asdict(rule),
        "realised": realised,
        "labels_from": labels_day.isoformat() if labels_day else None,
        "freshness_days": freshness(cfg, ds),
        "streaks": streaks,
        "retrain_after_days": cfg.monitoring.retrain_after_days,
        "retrain": reason is not None,
        "reason": reason,
    }
    folder = monitor_partition(cfg.name, ds.isoformat())
    write_json(folder / MONITOR_FILE, record)
    return record


# --- the stage: MLflow in, record, report and MLflow run out ---------------------------------


def registry_versions(cfg: PipelineConfig):
    """``served(version, run_id)`` backed by MLflow: the version's reference rows (an
    artifact of its run, cached under the state folder), holdout metrics and threshold."""
    import pandas as pd

    from mlgate.registry import configure_mlflow, operating_threshold
    from mlgate.runs import REFERENCE_ARTIFACT

    mlflow = configure_mlflow()
    found: dict[str, ServedVersion] = {}

    def served(version: str, run_id: str) -> ServedVersion:
        if version in found:
            return found[version]
        cache = reference_cache(cfg.name, run_id)
        if not cache.exists():
            from mlflow.exceptions import MlflowException

            try:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=REFERENCE_ARTIFACT
                )
                cache.parent.mkdir(parents=True, exist_ok=True)
                pd.read_parquet(path).to_parquet(cache, index=False)
            except (MlflowException, OSError) as error:
                log.warning("version %s has no reference rows: %s", version, error)
        reference = pd.read_parquet(cache) if cache.exists() else None
        metrics = mlflow.MlflowClient().get_run(run_id).data.metrics
        promised = {name: float(metrics[name]) for name in PROMISED if name in metrics}
        found[version] = ServedVersion(
            version, run_id, operating_threshold(run_id), reference, promised
        )
        return found[version]

    return served


def log_day(cfg: PipelineConfig, record: dict, files: list[Path]) -> dict:
    """The day's MLflow run in ``<model>.monitor`` (a rerun of the day reuses it): figures
    as metrics, the record and report as artifacts. Returns its experiment and run ids."""
    from mlgate.registry import configure_mlflow, ensure_experiment
    from mlgate.runs import TAG_DS, TAG_PIPELINE, monitor_experiment

    mlflow = configure_mlflow()
    experiment_id = ensure_experiment(monitor_experiment(cfg.model_name))
    earlier = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_DS}` = '{record['ds']}'", max_results=1
    )
    metrics = {
        "rows": record["rows"],
        "drifted_features": sum(d["drifted"] for d in record["drift"]),
        "drift_streak": record["streaks"]["drift"],
        "realised_streak": record["streaks"]["realised"],
        "retrain": int(record["retrain"]),
        **{f"psi.{d['feature']}": d["psi"] for d in record["drift"]},
        **{f"age_days.{k}": v for k, v in record["freshness_days"].items() if v is not None},
    }
    with mlflow.start_run(
        run_id=earlier[0].info.run_id if earlier else None,
        experiment_id=None if earlier else experiment_id,
        run_name=None if earlier else f"monitor-{record['ds']}",
    ) as run:
        mlflow.set_tags(
            {TAG_PIPELINE: cfg.name, TAG_DS: record["ds"], "model_version": record["model_version"]}
        )
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for path in files:
            mlflow.log_artifact(str(path))
    return {"experiment_id": experiment_id, "run_id": run.info.run_id}


def report_history(cfg: PipelineConfig, ds: date, days: int = 60) -> list[dict]:
    """The realised records of the scoring days up to ``ds`` (the newest ``days``)."""
    folder = realised_path(cfg.name, ds.isoformat()).parent
    paths = [p for p in sorted(folder.glob("ds=*.json")) if p.stem[3:] <= ds.isoformat()]
    return [json.loads(p.read_text()) for p in paths[-days:]]


def monitor(cfg: PipelineConfig, ds: date, served=None) -> dict:
    """The monitor task: judge the day, write its report, log both to MLflow. Returns what
    the DAG needs to publish the retrain asset and the alert (``retrain``, ``reason``)."""
    import pandas as pd

    from mlgate.stages import monitor_report

    served = served or registry_versions(cfg)
    record = assess_day(cfg, ds, served)
    folder = monitor_partition(cfg.name, ds.isoformat())
    version = served(record["model_version"], record["run_id"])
    reference_scores = (
        version.reference[SCORE_FEATURE].to_numpy(dtype=float)
        if version.reference is not None and SCORE_FEATURE in version.reference
        else None
    )
    day_scores = pd.read_parquet(scores_partition(cfg.name, ds.isoformat()), columns=[PROBABILITY])[
        PROBABILITY
    ].to_numpy(dtype=float)
    pngs = monitor_report.write_plots(
        record, day_scores, reference_scores, report_history(cfg, ds), folder / "plots"
    )
    report = folder / REPORT_FILE
    report.write_text(monitor_report.render(record, pngs))
    logged = log_day(cfg, record, [folder / MONITOR_FILE, report])
    mlflow_url = cfg.alerts.mlflow_url.rstrip("/")
    summary = {
        "ds": record["ds"],
        "model_version": record["model_version"],
        "drift_breached": record["drift_breached"],
        "drifted": [d["feature"] for d in record["drift"] if d["drifted"]],
        "streaks": record["streaks"],
        "retrain": record["retrain"],
        "reason": record["reason"],
        "report": str(report),
        "report_url": f"{mlflow_url}/#/experiments/{logged['experiment_id']}/runs/"
        f"{logged['run_id']}/artifacts/{REPORT_FILE}",
    }
    log.info("monitor of %s: %s", ds, json.dumps(summary))
    return summary


__all__ = [
    "MONITOR_FILE",
    "REPORT_FILE",
    "ServedVersion",
    "assess_day",
    "drift_of_day",
    "freshness",
    "matured_days",
    "model_inputs",
    "monitor",
    "realised_of",
    "retrain_reason",
]
