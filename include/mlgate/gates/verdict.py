"""The verdict model: one gate's result, the report of a run, and how both are shown.

``GateReport.table`` is the one order every reader shows (failures first: blocking, then
the others; then passes, then skips), used by logs, the CLI and the alert email.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

Verdict = Literal["pass", "fail", "skipped"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "skipped")
MODES: tuple[str, ...] = ("block", "warn")

MIN_OVERRIDE_REASON = 10
NO_CHAMPION = "no champion"


def plain(value: Any) -> Any:
    """numpy scalars/arrays, tuples and non-finite floats -> JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Index | pd.Series):
        return [plain(v) for v in list(value)]
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
        self.details = plain(self.details)

    def blocks(self) -> bool:
        return self.verdict == "fail" and self.mode == "block" and not self.overridden

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "mode": self.mode,
            "verdict": self.verdict,
            "value": plain(self.value),
            "threshold": self.threshold,
            "champion_value": plain(self.champion_value),
            "reason": self.reason,
            "details": plain(self.details),
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
                "blocks": r.blocks(),
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
