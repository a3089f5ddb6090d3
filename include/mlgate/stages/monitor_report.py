"""The monitor's day as one self-contained HTML page (plots inlined), and its plots as PNGs.

Written next to the day's record (``monitor/ds=<day>/report.html``), logged to the day's
MLflow run and linked from the alert email.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from mlgate.gates.realised import AT_THRESHOLD, RANKING


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _interval(metric: dict | None) -> str:
    if metric is None:
        return "—"
    return f"{metric['value']:.3f} [{metric['lower']:.3f}, {metric['upper']:.3f}]"


def write_plots(record: dict, day_scores, reference_scores, history: list[dict], out: Path):
    """The report's PNGs in ``out``: drift bars, score distributions, realised metrics."""
    from mlgate.ml import plots

    out.mkdir(parents=True, exist_ok=True)
    written = []
    if record["drift"]:
        written.append(
            plots.drift_png(record["drift"], record["drift_rule"]["min_psi"], out / "drift.png")
        )
    if reference_scores is not None and len(day_scores):
        written.append(
            plots.reference_vs_day_png(
                reference_scores,
                day_scores,
                out / "score_distribution.png",
                f"Score of version {record['model_version']}: reference vs {record['ds']}",
            )
        )
    for metric in ("auc_pr", "recall_at_threshold"):
        if any(metric in d["metrics"] for d in history):
            written.append(plots.realised_png(history, metric, out / f"realised_{metric}.png"))
    return written


def render(record: dict, pngs: list[Path]) -> str:
    """The day's report page."""
    verdict = (
        f"<p class='alarm'>Retrain requested: {html.escape(record['reason'])}</p>"
        if record["retrain"]
        else "<p>No retrain requested.</p>"
    )
    drift_rows = [
        [
            d["feature"],
            d["kind"],
            f"{d['psi']:.3f}",
            f"{d['p_value']:.2g}",
            f"{d['level']:.2g}",
            d["n_reference"],
            d["n_current"],
            "DRIFTED" if d["drifted"] else "",
        ]
        for d in sorted(record["drift"], key=lambda d: -d["psi"])
    ]
    realised_rows = [
        [
            r["day"],
            r["model_version"],
            r["rows"],
            r["positives"],
            *(_interval(r["metrics"].get(name)) for name in (*RANKING, *AT_THRESHOLD)),
            ", ".join(r["short"]) or "",
        ]
        for r in record["realised"]
    ]
    streaks = record["streaks"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>mlgate monitor: {html.escape(record['pipeline'])} {record['ds']}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:left}.alarm{color:#b00;font-weight:bold}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>",
        f"<h1>{html.escape(record['model_name'])} on {record['ds']}</h1>",
        f"<p>Pipeline <code>{html.escape(record['pipeline'])}</code>, model version "
        f"{html.escape(record['model_version'])} (run <code>{record['run_id']}</code>), "
        f"{record['rows']} rows scored.</p>",
        verdict,
        _table(
            ["watch", "days in a row", f"asks for a retrain at {record['retrain_after_days']}"],
            [
                ["drift (any feature or the score)", streaks["drift"], ""],
                ["realised performance short of the holdout", streaks["realised"], ""],
            ],
        ),
        "<h2>Drift against the version's reference rows</h2>",
        f"<p>{html.escape(record['drift_note'])}</p>" if record["drift_note"] else "",
        "<p>Drifted: the χ² test of the bin counts rejects at the level shown (alpha shared "
        f"by the features: {record['drift_rule']['alpha']}) and PSI is above "
        f"{record['drift_rule']['min_psi']}.</p>",
        _table(["feature", "kind", "PSI", "p-value", "level", "reference", "day", ""], drift_rows),
        "".join(
            f"<p>{html.escape(s['feature'])}: not judged, {html.escape(s['why'])}</p>"
            for s in record["drift_skipped"]
        ),
        "<h2>Realised performance (labels matured on this run)</h2>",
        f"<p>Labels from the feature table of {record['labels_from'] or '—'}.</p>",
        _table(
            ["scoring day", "version", "rows", "positives", *RANKING, *AT_THRESHOLD, "short"],
            realised_rows,
        )
        if realised_rows
        else "<p>No scoring day matured on this run.</p>",
        "<h2>Freshness (days old on this day)</h2>",
        _table(
            ["input", "newest day, days old"],
            [[k, "none yet" if v is None else v] for k, v in record["freshness_days"].items()],
        ),
        "<h2>Plots</h2>",
        *(_png(p) for p in pngs),
        "<h2>Record</h2><pre>",
        html.escape(json.dumps(record, indent=1)),
        "</pre></body></html>",
    ]
    return "\n".join(p for p in parts if p)


__all__ = ["render", "write_plots"]
