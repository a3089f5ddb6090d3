"""The online_parity gate: the online path gives the Spark features and decisions.

Both sides are frames of the same day's rows, one per row key: the Spark feature table's
rows scored by Spark, and the same events replayed through the online state and scored by
the ONNX twin (``mlgate.online.parity``). Per feature, a value is

- *equal*: both null, or both set and equal (exactly for the ``exact`` features: counts,
  distinct counts, flags, categories; within ``tolerance`` relative for the others);
- *mismatched*: both set and not equal;
- *missing*: Spark has it, the online side has no value (or no row);
- *extra*: the online side has a value that Spark has not (or no row).

The gate passes only when every value is equal, no row is missing or extra and every
decision (score >= the operating threshold) agrees.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mlgate.config import OnlineParityGate
from mlgate.gates.verdict import GateResult, plain

NAME = "online_parity"
SCORE = "score"


def _is_null(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def values_equal(a, b, *, exact: bool, tolerance: float) -> bool:
    """Both set and equal: exactly, or within ``tolerance`` relative to the larger."""
    if exact or isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=0.0)


def smape(a: list, b: list) -> float | None:
    """Symmetric mean absolute percentage error of numeric pairs (0/0 counts as 0)."""
    terms = []
    for x, y in zip(a, b, strict=True):
        if isinstance(x, str) or isinstance(y, str):
            return None
        x, y = float(x), float(y)
        scale = abs(x) + abs(y)
        terms.append(0.0 if scale == 0 else 2 * abs(x - y) / scale)
    return float(np.mean(terms)) if terms else None


def _by_key(frame: pd.DataFrame, key: str, features: list[str]) -> dict[object, dict]:
    rows = frame[[key, *features]].itertuples(index=False)
    return {k: dict(zip(features, values, strict=True)) for k, *values in rows}


def compare(
    spark: pd.DataFrame,
    online: pd.DataFrame,
    *,
    key: str,
    features: list[str],
    exact: set[str],
    tolerance: float,
) -> tuple[dict[str, dict], dict]:
    """(per feature: rates and SMAPE; per row key: its differing features)."""
    left, right = _by_key(spark, key, features), _by_key(online, key, features)
    keys = [*left, *(k for k in right if k not in left)]
    per_feature, per_row = {}, {}
    for name in features:
        counts = {"mismatch": 0, "missing": 0, "extra": 0}
        pairs: tuple[list, list] = ([], [])
        for k in keys:
            a = left.get(k, {}).get(name)
            b = right.get(k, {}).get(name)
            if _is_null(a) and _is_null(b):
                continue
            if _is_null(b):
                kind = "missing"
            elif _is_null(a):
                kind = "extra"
            else:
                pairs[0].append(a)
                pairs[1].append(b)
                if values_equal(a, b, exact=name in exact, tolerance=tolerance):
                    continue
                kind = "mismatch"
            counts[kind] += 1
            per_row.setdefault(k, {})[name] = {"spark": plain(a), "online": plain(b), "kind": kind}
        rows = max(len(keys), 1)
        per_feature[name] = {
            **{f"{kind}_rate": count / rows for kind, count in counts.items()},
            "smape": smape(*pairs),
        }
    return per_feature, per_row


def online_parity(
    cfg: OnlineParityGate,
    spark: pd.DataFrame | None,
    online: pd.DataFrame | None,
    *,
    key: str,
    features: list[str],
    exact: set[str],
    threshold: float,
    unavailable: str | None = None,
) -> GateResult:
    """The gate (see the module docstring); ``unavailable`` says why nothing could be
    compared (no ONNX twin, no labelled day in the lake): then it fails."""
    threshold_text = (
        f"every value equal (counts, flags, categories exactly; others within "
        f"{cfg.tolerance:g} relative), no missing or extra row, every decision agrees"
    )
    if unavailable is not None or spark is None or online is None or spark.empty:
        reason = unavailable or "no Spark rows of the newest labelled day to compare"
        return GateResult(NAME, cfg.mode, "fail", None, threshold_text, reason=reason)
    per_feature, per_row = compare(
        spark, online, key=key, features=features, exact=exact, tolerance=cfg.tolerance
    )
    decisions = spark[[key, SCORE]].merge(online[[key, SCORE]], on=key, suffixes=("_s", "_o"))
    flipped = decisions[(decisions["score_s"] >= threshold) != (decisions["score_o"] >= threshold)]
    for k in flipped[key]:
        per_row.setdefault(k, {})["decision"] = {"kind": "flip"}
    spark_keys, online_keys = set(spark[key]), set(online[key])
    rows = len(spark_keys | online_keys)
    differing = len(per_row)
    worst = sorted(per_row.items(), key=lambda item: (-len(item[1]), str(item[0])))
    details = {
        "rows": rows,
        "spark_rows": len(spark_keys),
        "online_rows": len(online_keys),
        "missing_rows": len(spark_keys - online_keys),
        "extra_rows": len(online_keys - spark_keys),
        "decision_flips": len(flipped),
        "features": per_feature,
        "worst_rows": [
            {"key": plain(k), "differences": diffs} for k, diffs in worst[: cfg.worst_rows]
        ],
    }
    if differing:
        names = sorted({n for _, diffs in per_row.items() for n in diffs})
        reason = (
            f"{differing} of {rows} rows differ online ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}); {len(flipped)} decision(s) flip"
        )
    else:
        reason = f"all {rows} rows equal online: every feature and decision"
    verdict = "fail" if differing else "pass"
    return GateResult(
        NAME, cfg.mode, verdict, differing / rows, threshold_text, reason=reason, details=details
    )
