"""Gates on data: the import is complete, the rows are clean, the suites pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.gates.verdict import GateResult, skipped

if TYPE_CHECKING:
    from mlgate.config import BadRecordGate, DataExpectationsGate, ReconciliationGate


def reconciliation(
    cfg: ReconciliationGate,
    source_rows: int | None,
    lake_rows: int,
    *,
    source_key_sum: int | None = None,
    lake_key_sum: int | None = None,
    window: str = "",
    since_previous_import: dict | None = None,
) -> GateResult:
    """Rows (and the sum of the keys) in the source's window vs in the lake partition.

    Sqoop's ``--validate``: the source's count for the window, measured in the snapshot
    the import read, must equal the rows in the lake's files. With ``cfg.checksum`` and an
    integer key measured on both sides, the sums of the keys must be equal too: a cheap
    checksum that also catches one range read twice and another missed, which a count
    alone does not. value = lake rows minus source rows. An empty source window fails
    unless ``cfg.allow_empty`` (never vacuously). Skipped when the source was not measured.

    ``since_previous_import`` (a re-import: ``mlgate.ingest.lake.key_changes``) adds how
    many rows of the partition it replaced are gone from the source: rows deleted after
    import leave the lake with the re-import, and the reason says so.
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
    deleted_note = ""
    if since_previous_import:
        details["since_previous_import"] = since_previous_import
        deleted = int(since_previous_import.get("deleted") or 0)
        if deleted:
            sample = ", ".join(str(k) for k in since_previous_import.get("deleted_keys", [])[:5])
            deleted_note = (
                f"; {deleted} rows of the previous import were deleted at the source since "
                f"(keys {sample}{', ...' if deleted > 5 else ''}) and left the lake"
            )
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
        reason += deleted_note
        return GateResult(
            name, cfg.mode, "fail", difference, threshold, reason=reason, details=details
        )
    if compare_sums and int(source_key_sum) != int(lake_key_sum):
        reason = (
            f"{both(lake_rows, source_rows)}: same count, different keys (rows read twice "
            "and others missed, or keys changed in between)"
        ) + deleted_note
        return GateResult(name, cfg.mode, "fail", 0, threshold, reason=reason, details=details)
    if source_rows == 0 and not cfg.allow_empty:
        reason = (
            f"empty window: the source has no rows{where}; is the feed late or the date "
            "wrong? (gates.reconciliation.allow_empty accepts it)"
        ) + deleted_note
        return GateResult(name, cfg.mode, "fail", 0, threshold, reason=reason, details=details)
    reason = f"{lake_rows} rows in the source window{where} and in the lake"
    if compare_sums:
        reason += f", key sum {lake_key_sum} on both sides"
    elif cfg.checksum:
        reason += " (key sum not compared: the key is not an integer column)"
    reason += deleted_note
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
    if total_rows < 0 or not 0 <= bad_rows <= total_rows:
        raise ValueError(
            f"bad_rows ({bad_rows}) must be between 0 and total_rows ({total_rows}), "
            "and total_rows at least 0"
        )
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


def days_short_of_labels(labels_by_day: dict[str, int], minimum: int) -> list[str]:
    """The days (ISO dates, in order) with fewer than ``minimum`` positive labels."""
    return sorted(day for day, count in labels_by_day.items() if count < minimum)


def label_feed_stalled(labels_by_day: dict[str, int], minimum: int) -> bool:
    """Every one of the newest matured days is short of labels: a stalled feed, not the
    noise of one quiet day (a small pipeline has days without a positive)."""
    return bool(labels_by_day) and len(days_short_of_labels(labels_by_day, minimum)) == len(
        labels_by_day
    )


def data_expectations(
    cfg: DataExpectationsGate,
    reports: list[dict] | None,
    *,
    label_rate: float | None,
    volume: int | None,
    volume_history: list[int],
    labels_by_day: dict[str, int] | None = None,
) -> GateResult:
    """Great Expectations reports, the label rate, label freshness and the day's volume in
    one verdict.

    ``reports`` are ``CheckReport.to_dict()`` dicts (or CheckReport objects). The volume
    band is median(last cfg.volume_history_days of volume_history, oldest first) times
    (1 +- cfg.volume_tolerance), bounds included; with no history the volume check is
    skipped and said so. ``labels_by_day``: positive labels on each of the newest matured
    days (``WindowSpec.recent_mature_days``); when every one of them has fewer than
    cfg.min_daily_labels it fails (a stalled label feed, see ``label_feed_stalled``), None
    skips the check. value = number of failed checks.
    An empty ``reports`` list fails: a gate that checked nothing must not pass. ``None``
    says the suites are judged elsewhere (check_raw judges the volume alone; the suites run
    in the features job and check_features judges them with everything else).
    """
    name = "data_expectations"
    lo_rate, hi_rate = cfg.label_rate
    threshold = (
        f"0 failed checks; label rate in [{lo_rate:g}, {hi_rate:g}]; "
        f"volume within ±{cfg.volume_tolerance:.0%} of the "
        f"{cfg.volume_history_days}-day median"
    )
    if cfg.label_freshness_days:
        threshold += (
            f"; a day with >= {cfg.min_daily_labels} label(s) among the "
            f"{cfg.label_freshness_days} newest matured days"
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
    if reports is not None and not suites:
        failures.append("no data-check report given: nothing was checked")

    label_detail: dict[str, Any] = {"value": label_rate, "low": lo_rate, "high": hi_rate}
    if label_rate is None:
        label_detail["skipped"] = "no label rate given"
    else:
        label_detail["ok"] = lo_rate <= label_rate <= hi_rate
        if not label_detail["ok"]:
            failures.append(f"label rate {label_rate:.4f} outside [{lo_rate:g}, {hi_rate:g}]")

    freshness_detail: dict[str, Any] = {"days": labels_by_day, "minimum": cfg.min_daily_labels}
    if labels_by_day is None:
        freshness_detail["skipped"] = "no daily label counts given"
    else:
        short = days_short_of_labels(labels_by_day, cfg.min_daily_labels)
        stalled = label_feed_stalled(labels_by_day, cfg.min_daily_labels)
        freshness_detail.update(short_days=short, stalled=stalled)
        if stalled:
            counts = ", ".join(f"{day}: {labels_by_day[day]}" for day in short)
            failures.append(
                f"no fresh labels: each of the {len(short)} newest matured days has fewer than "
                f"{cfg.min_daily_labels} positive label(s) ({counts}); the label feed may have "
                "stalled: check that new labels reach the label table, then rerun"
            )

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
        "label_freshness": freshness_detail,
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
    if reports is None:
        reason = "suites run by the features job, judged at check_features"
    else:
        reason = f"{checked} expectations in {len(suites)} suite(s) passed"
    if label_rate is not None:
        reason += f"; label rate {label_rate:.4f}"
    if "ok" in volume_detail:
        reason += f"; volume {volume} rows"
    skips = [d["skipped"] for d in (label_detail, volume_detail) if "skipped" in d]
    if skips:
        reason += " (" + "; ".join(skips) + ")"
    return GateResult(name, cfg.mode, "pass", 0.0, threshold, reason=reason, details=details)
