"""The validation gates: pure verdict logic on numbers, arrays and small frames.

Each gate function takes its config object from ``mlgate.config`` and the facts measured by
the pipeline, and returns a ``GateResult``: a name, a mode (block / warn), a verdict
(pass / fail / skipped), the measured value, the threshold as text, the champion's value
where there is one, a one-line reason a person can act on, and JSON-ready details.
``GateReport`` collects the results; its ``passed`` is False when any blocking gate failed
(and was not overridden) and also when no gate was evaluated at all: a model with no gate is
never promoted.

No Spark, MLflow, Airflow or Great Expectations import here: numpy and pandas only (the
quality gate uses ``mlgate.metrics.holdout_metrics``, so that the metrics
it judges are the ones training logs).

Gates and the seeds that ask for them (see shared/DESIGN.md):

* ``reconciliation``: rows and key sum in the source window vs the lake (Sqoop --validate).
* ``bad_record_ratio``: share of raw rows failing record rules (seed 002, accumulators).
* ``data_expectations``: Great Expectations suites, label rate, day volume (seed 003).
* ``training_iterations``: trees / nodes / iterations vs recent accepted runs (seed 002).
* ``assertion_set``: examples the model must never get wrong, 100% required (seed 003).
* ``quality``: holdout floor, paired bootstrap vs the champion, leakage jump (002-004).
* ``shadow``: champion and candidate score the same traffic: PSI and decision flips (002).
* ``export_parity``: the portable ONNX twin reproduces Spark's probabilities (001, 003).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlgate.config import (
        AssertionSetGate,
        BadRecordGate,
        DataExpectationsGate,
        ExportParityGate,
        QualityGate,
        ReconciliationGate,
        ShadowGate,
        TrainingIterationsGate,
    )

Verdict = Literal["pass", "fail", "skipped"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "skipped")
MODES: tuple[str, ...] = ("block", "warn")

MIN_OVERRIDE_REASON = 10
PSI_EPSILON = 1e-4  # floor for an empty bin's share, so that log(share) stays finite
NO_CHAMPION = "no champion"


def _plain(value: Any) -> Any:
    """numpy scalars/arrays, tuples and non-finite floats -> JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Index | pd.Series):
        return [_plain(v) for v in list(value)]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    if value is pd.NaT or (not isinstance(value, list | dict) and pd.isna(value)):
        return None
    return str(value)


def _num(value: float | None) -> str:
    """A value for a table cell: integers as such, other numbers with 4 decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.4f}"


@dataclass
class GateResult:
    name: str  # one of mlgate.config.GATE_NAMES
    mode: str  # "block" | "warn"
    verdict: Verdict
    value: float | None  # the measured headline value
    threshold: str  # human text of the threshold, e.g. "<= 0.0100"
    champion_value: float | None = None
    reason: str = ""  # one line a person can act on; for skipped: why
    details: dict = field(default_factory=dict)  # JSON-ready extra facts
    overridden: bool = False  # a person overrode this failed gate
    override_reason: str = ""  # the written reason given with the override

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"gate {self.name}: verdict {self.verdict!r} not in {VERDICTS}")
        if self.mode not in MODES:
            raise ValueError(f"gate {self.name}: mode {self.mode!r} not in {MODES}")
        if self.value is not None:
            self.value = float(self.value)
        if self.champion_value is not None:
            self.champion_value = float(self.champion_value)
        self.details = _plain(self.details)

    def blocks(self) -> bool:
        return self.verdict == "fail" and self.mode == "block" and not self.overridden

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "mode": self.mode,
            "verdict": self.verdict,
            "value": _plain(self.value),
            "threshold": self.threshold,
            "champion_value": _plain(self.champion_value),
            "reason": self.reason,
            "details": _plain(self.details),
            "overridden": self.overridden,
            "override_reason": self.override_reason,
            "blocks": self.blocks(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> GateResult:
        """Inverse of ``to_dict``; unknown keys (e.g. the derived ``blocks``) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def skipped(name: str, mode: str, reason: str, threshold: str = "-", **details) -> GateResult:
    """A gate that could not be evaluated (e.g. "no champion"), said explicitly."""
    return GateResult(name, mode, "skipped", None, threshold, reason=reason, details=details)


def _table_order(result: GateResult) -> int:
    if result.blocks():
        return 0
    if result.verdict == "fail":
        return 1
    return 2 if result.verdict == "pass" else 3


@dataclass
class GateReport:
    results: list[GateResult] = field(default_factory=list)

    def blocking(self) -> list[GateResult]:
        """Failed gates in block mode that nobody overrode: these stop promotion."""
        return [r for r in self.results if r.blocks()]

    def failed(self) -> list[GateResult]:
        """Every failed gate, block or warn, overridden or not."""
        return [r for r in self.results if r.verdict == "fail"]

    def evaluated(self) -> list[GateResult]:
        return [r for r in self.results if r.verdict != "skipped"]

    @property
    def passed(self) -> bool:
        """No blocking failure, and at least one gate evaluated (no gate, no promotion)."""
        return not self.blocking() and bool(self.evaluated())

    def apply_overrides(self, names: list[str], reason: str) -> None:
        """Mark the named failed gates overridden. An empty list does nothing.

        Raises ValueError (and changes nothing) when the reason is blank or shorter than
        10 characters, or when a name is not one of the failed gates.
        """
        names = list(dict.fromkeys(names or []))
        if not names:
            return
        if not reason or len(reason.strip()) < MIN_OVERRIDE_REASON:
            raise ValueError(
                f"an override needs a written reason of at least {MIN_OVERRIDE_REASON} "
                f"characters (got {reason!r})"
            )
        failed = {r.name: r for r in self.failed()}
        unknown = [n for n in names if n not in failed]
        if unknown:
            raise ValueError(
                f"cannot override {unknown}: not a failed gate "
                f"(failed gates: {sorted(failed) or 'none'})"
            )
        for name in names:
            failed[name].overridden = True
            failed[name].override_reason = reason.strip()

    def to_dict(self) -> dict:
        return {"passed": self.passed, "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, d: dict) -> GateReport:
        return cls([GateResult.from_dict(r) for r in d.get("results", [])])

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: gate_<name>_value, gate_<name>_passed (1/0), gates_passed.

        A skipped gate gives no _passed; a value that is None (or not finite) gives no _value;
        an overridden gate also gives gate_<name>_overridden = 1.
        """
        out: dict[str, float] = {}
        for r in self.results:
            if r.value is not None and math.isfinite(r.value):
                out[f"gate_{r.name}_value"] = float(r.value)
            if r.verdict != "skipped":
                out[f"gate_{r.name}_passed"] = 1.0 if r.verdict == "pass" else 0.0
            if r.overridden:
                out[f"gate_{r.name}_overridden"] = 1.0
        out["gates_passed"] = 1.0 if self.passed else 0.0
        return out

    def table(self) -> list[dict]:
        """Display rows, failures first (blocking, then the others), then passes, skips."""
        ordered = sorted(self.results, key=_table_order)  # stable: keeps gate order within
        return [
            {
                "name": r.name,
                "mode": r.mode,
                "verdict": r.verdict,
                "value": r.value,
                "threshold": r.threshold,
                "champion_value": r.champion_value,
                "reason": r.reason,
                "overridden": r.overridden,
            }
            for r in ordered
        ]

    def summary(self) -> str:
        if not self.evaluated():
            return "NOT PROMOTED: no gate was evaluated (no gate, no promotion)"
        blocking = self.blocking()
        if blocking:
            return "BLOCKED by " + ", ".join(r.name for r in blocking)
        overridden = [r.name for r in self.results if r.overridden]
        text = "PASSED"
        if overridden:
            text += " (overridden: " + ", ".join(overridden) + ")"
        return text

    def text_table(self) -> str:
        """Fixed-width table for logs, the CLI and plain-text email; a summary line last."""
        header = ["gate", "mode", "verdict", "value", "threshold", "champion", "reason"]
        rows = []
        for row in self.table():
            verdict = row["verdict"].upper() if row["verdict"] == "fail" else row["verdict"]
            if row["overridden"]:
                verdict += " (overridden)"
            rows.append(
                [
                    row["name"],
                    row["mode"],
                    verdict,
                    _num(row["value"]),
                    row["threshold"],
                    _num(row["champion_value"]),
                    row["reason"],
                ]
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

        def line(cells: list[str]) -> str:
            padded = [c.ljust(w) for c, w in zip(cells[:-1], widths)]
            return "  ".join([*padded, cells[-1]]).rstrip()

        rule = "  ".join("-" * w for w in widths) + "  ------"
        return "\n".join([line(header), rule, *(line(r) for r in rows), "", self.summary()])


# --------------------------------------------------------------------------- reconciliation


def reconciliation(
    cfg: ReconciliationGate,
    source_rows: int | None,
    lake_rows: int,
    *,
    source_key_sum: int | None = None,
    lake_key_sum: int | None = None,
    window: str = "",
) -> GateResult:
    """Rows (and the sum of the keys) in the source's window vs in the lake partition.

    Sqoop's ``--validate``: the source's count for the window, measured in the snapshot
    the import read, must equal the rows in the lake's files. With ``cfg.checksum`` and an
    integer key measured on both sides, the sums of the keys must be equal too: a cheap
    checksum that also catches one range read twice and another missed, which a count
    alone does not. value = lake rows minus source rows. An empty source window fails
    unless ``cfg.allow_empty`` (never vacuously). Skipped when the source was not measured.
    """
    name = "reconciliation"
    threshold = "lake rows == source rows" + (" and key sums equal" if cfg.checksum else "")
    where = f" for {window}" if window else ""
    if source_rows is None:
        return skipped(
            name,
            cfg.mode,
            f"the source was not measured{where} (partition written by an older extract); "
            "rerun the extract",
            threshold,
        )
    source_rows, lake_rows = int(source_rows), int(lake_rows)
    compare_sums = cfg.checksum and source_key_sum is not None and lake_key_sum is not None
    details = {
        "window": window,
        "source": {"rows": source_rows, "key_sum": source_key_sum},
        "lake": {"rows": lake_rows, "key_sum": lake_key_sum},
        "checksum_compared": compare_sums,
    }
    difference = lake_rows - source_rows

    def both(rows_lake: int, rows_source: int) -> str:
        text = f"the lake has {rows_lake} rows, the source window{where} has {rows_source}"
        if compare_sums:
            text += f" (key sum: lake {lake_key_sum}, source {source_key_sum})"
        return text

    if difference != 0:
        reason = f"{both(lake_rows, source_rows)}: {abs(difference)} rows " + (
            "missing from the lake" if difference < 0 else "too many in the lake"
        )
        return GateResult(
            name, cfg.mode, "fail", difference, threshold, reason=reason, details=details
        )
    if compare_sums and int(source_key_sum) != int(lake_key_sum):
        reason = (
            f"{both(lake_rows, source_rows)}: same count, different keys (rows read twice "
            "and others missed, or keys changed in between)"
        )
        return GateResult(name, cfg.mode, "fail", 0, threshold, reason=reason, details=details)
    if source_rows == 0 and not cfg.allow_empty:
        reason = (
            f"empty window: the source has no rows{where}; is the feed late or the date "
            "wrong? (gates.reconciliation.allow_empty accepts it)"
        )
        return GateResult(name, cfg.mode, "fail", 0, threshold, reason=reason, details=details)
    reason = f"{lake_rows} rows in the source window{where} and in the lake"
    if compare_sums:
        reason += f", key sum {lake_key_sum} on both sides"
    elif cfg.checksum:
        reason += " (key sum not compared: the key is not an integer column)"
    return GateResult(name, cfg.mode, "pass", 0, threshold, reason=reason, details=details)


# --------------------------------------------------------------------------- bad records


def bad_record_ratio(
    cfg: BadRecordGate, total_rows: int, bad_rows: int, reasons: dict[str, int]
) -> GateResult:
    """Share of the day's raw rows that failed the record rules (quarantined rows).

    Fails when bad/total > cfg.max_ratio, and when the extract is empty (never vacuously).
    """
    name, threshold = "bad_record_ratio", f"<= {cfg.max_ratio:.4f}"
    total_rows, bad_rows = int(total_rows), int(bad_rows)
    if bad_rows < 0 or bad_rows > max(total_rows, 0):
        raise ValueError(f"bad_rows ({bad_rows}) must be between 0 and total_rows ({total_rows})")
    reasons = {str(k): int(v) for k, v in (reasons or {}).items()}
    details = {"total": total_rows, "bad": bad_rows, "reasons": reasons}
    if total_rows == 0:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold,
            reason="empty extract: no rows for the day",
            details=details,
        )
    ratio = bad_rows / total_rows
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    why = ("; top reasons: " + ", ".join(f"{k} {v}" for k, v in top)) if top else ""
    measured = f"{bad_rows} of {total_rows} rows ({ratio:.2%}) failed the record rules"
    if ratio > cfg.max_ratio:
        verdict = "fail"
        reason = f"{measured}, above {cfg.max_ratio:.2%}{why}; see the quarantine partition"
    else:
        verdict = "pass"
        reason = f"{measured}{why}"
    return GateResult(name, cfg.mode, verdict, ratio, threshold, reason=reason, details=details)


# --------------------------------------------------------------------------- expectations


def _report_dict(report: Any) -> dict:
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


def data_expectations(
    cfg: DataExpectationsGate,
    reports: list[dict],
    *,
    label_rate: float | None,
    volume: int | None,
    volume_history: list[int],
) -> GateResult:
    """Great Expectations reports, the label rate and the day's volume in one verdict.

    ``reports`` are ``CheckReport.to_dict()`` dicts (or CheckReport objects). The volume
    band is median(last cfg.volume_history_days of volume_history, oldest first) times
    (1 +- cfg.volume_tolerance), bounds included; with no history the volume check is
    skipped and said so. value = number of failed checks. An empty ``reports`` list fails:
    a gate that checked nothing must not pass.
    """
    name = "data_expectations"
    lo_rate, hi_rate = cfg.label_rate
    threshold = (
        f"0 failed checks; label rate in [{lo_rate:g}, {hi_rate:g}]; "
        f"volume within ±{cfg.volume_tolerance:.0%} of the "
        f"{cfg.volume_history_days}-day median"
    )
    failures: list[str] = []
    suites = []
    for report in map(_report_dict, reports or []):
        suite = report.get("suite", "?")
        failed = report.get("failed") or []
        suites.append(
            {
                "suite": suite,
                "rows": report.get("rows"),
                "evaluated": report.get("evaluated"),
                "failed": failed,
            }
        )
        for item in failed:
            column = item.get("column") or "(table)"
            observed = item.get("observed") or "failed"
            failures.append(f"{suite}: {column} {item.get('expectation', '?')} ({observed})")
    if not suites:
        failures.append("no data-check report given: nothing was checked")

    label_detail: dict[str, Any] = {"value": label_rate, "low": lo_rate, "high": hi_rate}
    if label_rate is None:
        label_detail["skipped"] = "no label rate given"
    else:
        label_detail["ok"] = lo_rate <= label_rate <= hi_rate
        if not label_detail["ok"]:
            failures.append(f"label rate {label_rate:.4f} outside [{lo_rate:g}, {hi_rate:g}]")

    recent = [int(v) for v in (volume_history or [])][-cfg.volume_history_days :]
    volume_detail: dict[str, Any] = {"value": volume, "history": recent}
    if volume is None:
        volume_detail["skipped"] = "no volume given"
    elif not recent:
        volume_detail["skipped"] = "no earlier day to compare with"
    else:
        median = float(np.median(recent))
        low, high = median * (1 - cfg.volume_tolerance), median * (1 + cfg.volume_tolerance)
        ok = low <= volume <= high
        volume_detail.update(median=median, low=low, high=high, ok=ok)
        if not ok:
            failures.append(
                f"volume {volume} rows outside [{low:g}, {high:g}] "
                f"(median {median:g} of the last {len(recent)} days "
                f"±{cfg.volume_tolerance:.0%})"
            )

    details = {
        "suites": suites,
        "failed_checks": failures,
        "label_rate": label_detail,
        "volume": volume_detail,
    }
    if failures:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            float(len(failures)),
            threshold,
            reason="; ".join(failures),
            details=details,
        )
    checked = sum(int(s["evaluated"] or 0) for s in suites)
    reason = f"{checked} expectations in {len(suites)} suite(s) passed"
    if label_rate is not None:
        reason += f"; label rate {label_rate:.4f}"
    if "ok" in volume_detail:
        reason += f"; volume {volume} rows"
    skips = [d["skipped"] for d in (label_detail, volume_detail) if "skipped" in d]
    if skips:
        reason += " (" + "; ".join(skips) + ")"
    return GateResult(name, cfg.mode, "pass", 0.0, threshold, reason=reason, details=details)


# --------------------------------------------------------------------------- iterations


def training_iterations(
    cfg: TrainingIterationsGate,
    candidate: dict[str, float],
    history: list[dict[str, float]],
) -> GateResult:
    """Training effort (trees, nodes, depth, iterations) vs the last accepted runs.

    For each effort key found in the candidate and in the last ``cfg.history`` entries of
    ``history`` (oldest first): band = median +- tolerance * |median|. Outside the band in
    either direction fails (a sudden easy fit often means a column of zeros; a spike means
    noise). value = the largest relative deviation |candidate - median| / |median| (the
    denominator is 1 when the median is 0).
    """
    name = "training_iterations"
    recent = list(history or [])[-cfg.history :]
    threshold = f"within ±{cfg.tolerance:.0%} of median of last {cfg.history} accepted runs"
    if not recent:
        return skipped(name, cfg.mode, "no accepted run to compare with yet", threshold)
    per_key: dict[str, dict] = {}
    failures: list[str] = []
    worst = 0.0
    for key, value in sorted(candidate.items()):
        past = [float(h[key]) for h in recent if h.get(key) is not None]
        if value is None or not past:
            continue
        value = float(value)
        median = float(np.median(past))
        spread = cfg.tolerance * abs(median)
        low, high = median - spread, median + spread
        deviation = abs(value - median) / (abs(median) if median else 1.0)
        ok = low <= value <= high
        per_key[key] = {
            "candidate": value,
            "median": median,
            "low": low,
            "high": high,
            "deviation": deviation,
            "runs": len(past),
            "ok": ok,
        }
        worst = max(worst, deviation)
        if not ok:
            direction = "below" if value < low else "above"
            failures.append(
                f"{key} {value:g} {direction} [{low:g}, {high:g}] "
                f"(median {median:g} of {len(past)} accepted runs)"
            )
    if not per_key:
        return skipped(
            name,
            cfg.mode,
            f"no effort metric in common with the accepted runs (candidate has "
            f"{sorted(candidate)}; model family changed?)",
            threshold,
        )
    details = {"keys": per_key, "history_runs": len(recent)}
    if failures:
        reason = "training effort changed: " + "; ".join(failures)
        return GateResult(name, cfg.mode, "fail", worst, threshold, reason=reason, details=details)
    reason = "; ".join(
        f"{k} {d['candidate']:g} in [{d['low']:g}, {d['high']:g}]" for k, d in per_key.items()
    )
    return GateResult(name, cfg.mode, "pass", worst, threshold, reason=reason, details=details)


# --------------------------------------------------------------------------- assertion set


def assertion_set(cfg: AssertionSetGate, examples: pd.DataFrame, threshold: float) -> GateResult:
    """Every curated example must be decided as expected (score >= threshold means 1).

    A missing (NaN) score counts as a miss. An empty set fails.
    """
    name = "assertion_set"
    needed = ["id", "expected", "score", "description"]
    missing_columns = [c for c in needed if c not in examples.columns]
    if missing_columns:
        raise ValueError(f"assertion examples lack columns {missing_columns}")
    total = len(examples)
    text = f"100% of {total}"
    if total == 0:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            text,
            reason=f"assertion set is empty ({cfg.path})",
            details={"path": cfg.path},
        )
    scores = pd.to_numeric(examples["score"], errors="coerce").to_numpy(dtype=float)
    expected = examples["expected"].astype(int).to_numpy()
    decided = np.where(np.isnan(scores), -1, (scores >= threshold).astype(int))
    hit = decided == expected
    missed = [
        {
            "id": _plain(row["id"]),
            "expected": int(row["expected"]),
            "score": _plain(score),
            "description": str(row["description"]),
        }
        for (_, row), score, ok in zip(examples.iterrows(), scores, hit)
        if not ok
    ]
    share = float(hit.mean())
    details = {
        "path": cfg.path,
        "total": total,
        "correct": int(hit.sum()),
        "operating_threshold": threshold,
        "missed": missed,
    }
    if missed:
        listed = "; ".join(
            f"{m['id']} (expected {m['expected']}, score "
            f"{'missing' if m['score'] is None else format(m['score'], '.4f')}: "
            f"{m['description']})"
            for m in missed
        )
        reason = f"{len(missed)} of {total} assertion examples missed at {threshold:g}: {listed}"
        return GateResult(name, cfg.mode, "fail", share, text, reason=reason, details=details)
    reason = f"all {total} assertion examples decided as expected at {threshold:g}"
    return GateResult(name, cfg.mode, "pass", share, text, reason=reason, details=details)


# --------------------------------------------------------------------------- quality


def _curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true / false positives at each distinct score, highest score first."""
    order = np.argsort(-scores, kind="mergesort")
    ordered, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    return np.cumsum(y)[last], np.cumsum(1 - y)[last]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sum_k (R_k - R_{k-1}) P_k over distinct thresholds (sklearn's average_precision)."""
    tp, fp = _curve(labels, scores)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Trapezoidal area under the ROC curve; ties count one half (sklearn's roc_auc)."""
    tp, fp = _curve(labels, scores)
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def decision_cost(
    labels: np.ndarray, scores: np.ndarray, threshold: float, cost_fn: float, cost_fp: float
) -> float:
    """(FN * cost_fn + FP * cost_fp) / n at the threshold: lower is better."""
    decided = scores >= threshold
    fn = int(np.sum(~decided & (labels == 1)))
    fp = int(np.sum(decided & (labels == 0)))
    return (fn * cost_fn + fp * cost_fp) / len(labels)


def _metric(
    metric: str, labels: np.ndarray, scores: np.ndarray, threshold: float, cfg: QualityGate
) -> float:
    """One metric, fast (used inside the bootstrap); agrees with holdout_metrics."""
    if metric == "auc_pr":
        return average_precision(labels, scores)
    if metric == "roc_auc":
        return roc_auc(labels, scores)
    if metric == "cost":
        return decision_cost(
            labels, scores, threshold, cfg.cost_false_negative, cfg.cost_false_positive
        )
    decided = scores >= threshold
    tp = float(np.sum(decided & (labels == 1)))
    if metric == "recall_at_threshold":
        return tp / float(np.sum(labels == 1))
    if metric == "precision_at_threshold":
        return tp / float(np.sum(decided)) if decided.any() else 0.0
    raise ValueError(f"unknown metric {metric!r}")


def _all_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float, cfg: QualityGate
) -> dict[str, float]:
    from mlgate.metrics import holdout_metrics

    metrics = dict(holdout_metrics(labels, scores, threshold))
    metrics["cost"] = decision_cost(
        labels, scores, threshold, cfg.cost_false_negative, cfg.cost_false_positive
    )
    return metrics


def paired_bootstrap(
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    gain,
    samples: int,
    seed: int,
) -> np.ndarray:
    """``gain(labels, candidate, champion)`` on stratified resamples of the same rows.

    Positives and negatives are resampled separately (with replacement, each keeping its
    count), so every resample has both classes; both models see the same rows.
    """
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    out = np.empty(samples)
    for i in range(samples):
        idx = np.concatenate(
            [
                rng.choice(positives, size=len(positives), replace=True),
                rng.choice(negatives, size=len(negatives), replace=True),
            ]
        )
        out[i] = gain(labels[idx], candidate[idx], champion[idx])
    return out


def quality(
    cfg: QualityGate,
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    threshold: float,
    *,
    seed: int = 0,
) -> GateResult:
    """Holdout quality: (a) floors, (b) not significantly worse than the champion on the same
    holdout, (c) not suspiciously better than the champion (leakage).

    ``diff`` is oriented so that positive means "the candidate is better": candidate -
    champion for auc_pr / roc_auc / recall, champion - candidate for cost (lower is better);
    max_drop and max_jump are in the metric's own units (for cost: cost per row).
    (b) fails when the upper bound of the paired bootstrap interval of diff is below
    -max_drop; (c) fails when the point diff is above max_jump.
    """
    name = "quality"
    metric = cfg.compare_metric
    labels = np.asarray(labels).astype(int)
    candidate = np.asarray(candidate, dtype=float)
    if len(candidate) != len(labels):
        raise ValueError(f"{len(candidate)} candidate scores for {len(labels)} labels")
    if champion is not None:
        champion = np.asarray(champion, dtype=float)
        if len(champion) != len(labels):
            raise ValueError(f"{len(champion)} champion scores for {len(labels)} labels")
    floor_text = ", ".join(f"{k} >= {v:.4f}" for k, v in cfg.floor.items())
    lower = " (lower is better)" if metric == "cost" else ""
    threshold_text = (
        f"{floor_text}; vs champion {metric}{lower}: drop <= {cfg.max_drop:.4f} beyond the "
        f"{cfg.confidence:.0%} interval, gain <= {cfg.max_jump:.4f}"
    )
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason=(
                f"holdout has {positives} positives among {len(labels)} rows: ranking metrics "
                "are undefined; widen training.holdout_days or check the labels"
            ),
            details={"holdout_rows": len(labels), "holdout_positives": positives},
        )
    if not np.isfinite(candidate).all():
        raise ValueError("candidate scores contain NaN or infinite values")

    cand = _all_metrics(labels, candidate, threshold, cfg)
    failures: list[str] = []
    floor_failures = {}
    for key, floor in cfg.floor.items():
        if cand[key] < floor:
            floor_failures[key] = {"value": cand[key], "floor": floor}
            failures.append(f"floor: {key} {cand[key]:.4f} < {floor:.4f}")
    details: dict[str, Any] = {
        "compare_metric": metric,
        "candidate": cand,
        "floor": dict(cfg.floor),
        "floor_failures": floor_failures,
        "operating_threshold": threshold,
    }
    value = cand[metric]
    champion_value = None
    notes: list[str] = []

    if champion is None:
        details["champion"] = NO_CHAMPION
        notes.append(f"champion comparisons skipped: {NO_CHAMPION}")
    else:
        if not np.isfinite(champion).all():
            raise ValueError("champion scores contain NaN or infinite values")
        champ = _all_metrics(labels, champion, threshold, cfg)
        champion_value = champ[metric]
        sign = -1.0 if metric == "cost" else 1.0

        def gain(y, a, b):
            return sign * (
                _metric(metric, y, a, threshold, cfg) - _metric(metric, y, b, threshold, cfg)
            )

        diff = sign * (value - champion_value)
        diffs = paired_bootstrap(labels, candidate, champion, gain, cfg.bootstrap_samples, seed)
        alpha = (1 - cfg.confidence) / 2
        low, high = (float(x) for x in np.quantile(diffs, [alpha, 1 - alpha]))
        details.update(
            champion=champ,
            diff=diff,
            diff_direction=(
                "champion - candidate (cost: lower is better)"
                if metric == "cost"
                else "candidate - champion"
            ),
            interval=[low, high],
            confidence=cfg.confidence,
            bootstrap_samples=cfg.bootstrap_samples,
            seed=seed,
        )
        interval = f"{cfg.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]"
        worse, jump = high < -cfg.max_drop, diff > cfg.max_jump
        details.update(significantly_worse=worse, suspicious_jump=jump)
        if worse:
            failures.append(
                f"significantly worse than the champion: {metric} gain {diff:+.4f}, "
                f"{interval} entirely below -{cfg.max_drop:.4f}"
            )
        if jump:
            failures.append(
                f"too good to be true: {metric} gain {diff:+.4f} over the champion exceeds "
                f"max_jump {cfg.max_jump:.4f}; suspect leakage (a feature that sees the label "
                "or the future), verify before overriding"
            )
        if not (worse or jump):
            notes.append(f"{metric} gain vs champion {diff:+.4f}, {interval}")

    headline = f"{metric} {value:.4f}" + (
        f" vs champion {champion_value:.4f}" if champion_value is not None else ""
    )
    if failures:
        reason = "; ".join([*failures, headline, *notes])
        verdict = "fail"
    else:
        reason = "; ".join([headline, "floors met", *notes])
        verdict = "pass"
    return GateResult(
        name,
        cfg.mode,
        verdict,
        value,
        threshold_text,
        champion_value=champion_value,
        reason=reason,
        details=details,
    )


# --------------------------------------------------------------------------- shadow


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bin edges are the interior quantiles (1/bins, ..., (bins-1)/bins) of ``expected``,
    duplicates dropped (ties give fewer, wider bins); the outer bins are open, so every
    value of both arrays is counted; a value equal to an edge goes to the upper bin.
    With e_i, a_i the shares of each array in bin i, floored at PSI_EPSILON (1e-4) when a
    bin is empty:

        PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

    0 for identical distributions; about 0.1 is a small shift, above 0.2 a large one.
    """
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if len(expected) == 0 or len(actual) == 0:
        raise ValueError("psi needs at least one value in each array")
    if bins < 2:
        raise ValueError("psi needs at least 2 bins")
    edges = np.unique(np.quantile(expected, np.arange(1, bins) / bins))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    e = np.maximum(e / len(expected), PSI_EPSILON)
    a = np.maximum(a / len(actual), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def shadow(
    cfg: ShadowGate,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    threshold: float,
    rows: pd.DataFrame | None = None,
) -> tuple[GateResult, pd.DataFrame]:
    """Champion and candidate score the same traffic: PSI of scores and decision flips.

    PSI uses 10 bins on the champion's score deciles (see ``psi``); the flip rate is the
    share of rows whose decision (score >= threshold) differs. Also returns the
    ``cfg.top_disagreements`` rows with the largest |candidate - champion|: the rows'
    columns (if given) plus candidate_score, champion_score, abs_diff, keeping their index.
    """
    name = "shadow"
    threshold_text = f"psi <= {cfg.max_psi:.4f}, flip rate <= {cfg.max_flip_rate:.4f}"
    empty = pd.DataFrame(columns=["candidate_score", "champion_score", "abs_diff"])
    if champion is None:
        return skipped(name, cfg.mode, NO_CHAMPION, threshold_text, champion=NO_CHAMPION), empty
    candidate = np.asarray(candidate, dtype=float)
    champion = np.asarray(champion, dtype=float)
    if len(candidate) != len(champion):
        raise ValueError(f"{len(candidate)} candidate scores vs {len(champion)} champion scores")
    if rows is not None and len(rows) != len(candidate):
        raise ValueError(f"{len(rows)} rows for {len(candidate)} scores")
    n = len(candidate)
    if n == 0:
        result = GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason="no traffic scored: nothing to compare the models on",
            details={"rows": 0},
        )
        return result, empty

    value = psi(champion, candidate, bins=10)
    flips = int(np.sum((candidate >= threshold) != (champion >= threshold)))
    flip_rate = flips / n
    base = rows.copy() if rows is not None else pd.DataFrame(index=pd.RangeIndex(n))
    base["candidate_score"] = candidate
    base["champion_score"] = champion
    base["abs_diff"] = np.abs(candidate - champion)
    order = np.argsort(-base["abs_diff"].to_numpy(), kind="mergesort")[: cfg.top_disagreements]
    top = base.iloc[order]

    details = {
        "psi": value,
        "flip_rate": flip_rate,
        "flips": flips,
        "rows": n,
        "operating_threshold": threshold,
        "mean_abs_diff": float(base["abs_diff"].mean()),
        "max_abs_diff": float(base["abs_diff"].max()),
    }
    measured = f"psi {value:.4f}, {flips} of {n} decisions flipped ({flip_rate:.2%})"
    failures = []
    if value > cfg.max_psi:
        failures.append(f"score distribution shifted: psi {value:.4f} > {cfg.max_psi:.4f}")
    if flip_rate > cfg.max_flip_rate:
        failures.append(
            f"decisions changed: flip rate {flip_rate:.2%} > {cfg.max_flip_rate:.2%} "
            f"({flips} of {n}); see the top disagreements"
        )
    if failures:
        result = GateResult(
            name,
            cfg.mode,
            "fail",
            value,
            threshold_text,
            reason="; ".join(failures),
            details=details,
        )
    else:
        result = GateResult(
            name, cfg.mode, "pass", value, threshold_text, reason=measured, details=details
        )
    return result, top


def export_parity(
    cfg: ExportParityGate,
    spark_scores: np.ndarray,
    portable_scores: np.ndarray | None,
    threshold: float,
    keys: np.ndarray | None = None,
    export_error: str | None = None,
    worst: int = 5,
) -> GateResult:
    """The portable (ONNX) export must reproduce Spark's probabilities on the same rows.

    Value: max |spark - portable| over every row (a row where both are NaN agrees, one NaN
    is a difference of infinity). Fails when it exceeds ``cfg.max_abs_diff``, when any
    decision (score >= threshold) differs, when there are no rows, or when there is no
    portable model (``export_error`` says why). Details list the ``worst`` rows.
    """
    name = "export_parity"
    threshold_text = f"max |Δp| <= {cfg.max_abs_diff:g}, every decision agrees"
    if portable_scores is None or export_error:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason=f"no portable model to compare: {export_error or 'no ONNX scores'}",
            details={"export_error": export_error},
        )
    spark_scores = np.asarray(spark_scores, dtype=float)
    portable_scores = np.asarray(portable_scores, dtype=float)
    if len(spark_scores) != len(portable_scores):
        raise ValueError(f"{len(spark_scores)} Spark scores vs {len(portable_scores)} ONNX scores")
    n = len(spark_scores)
    if n == 0:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason="no holdout rows scored: parity not shown",
            details={"rows": 0},
        )
    both_nan = np.isnan(spark_scores) & np.isnan(portable_scores)
    diff = np.where(both_nan, 0.0, np.abs(spark_scores - portable_scores))
    diff = np.where(np.isnan(diff), np.inf, diff)
    flips_mask = (spark_scores >= threshold) != (portable_scores >= threshold)
    flips = int(np.sum(flips_mask))
    value = float(diff.max())
    order = np.argsort(-diff, kind="mergesort")[:worst]
    details = {
        "rows": n,
        "max_abs_diff": value,
        "mean_abs_diff": float(diff.mean()) if math.isfinite(value) else None,
        "decision_flips": flips,
        "operating_threshold": threshold,
        "worst_rows": [
            {
                "key": _plain(keys[i]) if keys is not None else int(i),
                "spark": _plain(spark_scores[i]),
                "onnx": _plain(portable_scores[i]),
            }
            for i in order
        ],
    }
    measured = f"max |Δp| {value:.3g} over {n} rows, {flips} decision(s) differ"
    failures = []
    if value > cfg.max_abs_diff:
        failures.append(f"probabilities differ: max |Δp| {value:.3g} > {cfg.max_abs_diff:g}")
    if flips:
        failures.append(f"{flips} of {n} decisions at threshold {threshold} differ")
    if failures:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            value,
            threshold_text,
            reason="; ".join(failures) + " (the ONNX export is not faithful: see details)",
            details=details,
        )
    return GateResult(
        name, cfg.mode, "pass", value, threshold_text, reason=measured, details=details
    )
