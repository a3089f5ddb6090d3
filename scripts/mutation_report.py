#!/usr/bin/env python3
"""The score and the surviving mutants of a mutmut run, as a section of docs/testing.md.

Reads the results mutmut left in build/mutation/ (scripts/mutation.py made that copy and
ran mutmut there), counts the mutants by package and by outcome, and lists every mutant
the tests did not detect with its change and the reason it may survive. Reasons live in
tests/mutation_survivors.toml, matched by the changed code (not by mutmut's numbers,
which shift when a function changes). A survivor without a reason is listed as
unexplained. Exit code 1 when the score is below the goal or a survivor is unexplained.

Run alone to rewrite the section from the last run (after editing a reason):
`.venv/bin/python scripts/mutation_report.py --write docs/testing.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench_docs import write_section  # scripts/ is on sys.path when run

REPO = Path(__file__).resolve().parents[1]
WORKDIR = REPO / "build" / "mutation"
REASONS = REPO / "tests" / "mutation_survivors.toml"
HEADING = "Mutation score (written by `make mutation`)"

PACKAGES = {  # a mutated file of the copy -> the package it is reported under
    "src/mlgate/gates/": "gates (`include/mlgate/gates/`)",
    "src/mlgate/ingest/records.py": "record rules (`include/mlgate/ingest/records.py`)",
    "src/mlgate/config/": "config (`include/mlgate/config/`, without `expr.py`)",
}
DETECTED = ("killed", "timeout", "segfault", "caught by type check")


@dataclass
class Mutant:
    name: str  # mutmut's, e.g. mlgate.gates.data.x_reconciliation__mutmut_72
    path: str  # in the copy, e.g. src/mlgate/gates/data.py
    status: str
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    @property
    def package(self) -> str:
        return next(label for prefix, label in PACKAGES.items() if self.path.startswith(prefix))

    @property
    def function(self) -> str:
        """module.function or module.Class.method, e.g. mlgate.gates.verdict.GateReport.table"""
        key, _, number = self.name.partition("__mutmut_")
        module, _, mangled = key.rpartition(".")
        if mangled.startswith("xǁ"):
            return f"{module}.{'.'.join(mangled[2:].split('ǁ'))}"
        return f"{module}.{mangled[2:]}"

    @property
    def number(self) -> str:
        return self.name.rpartition("__mutmut_")[2]

    @property
    def detected(self) -> bool:
        return self.status in DETECTED


def load_mutants(workdir: Path) -> list[Mutant]:
    """Every mutant of the last run, with the changed lines of those not detected."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    mutants = []
    here = Path.cwd()
    os.chdir(workdir)  # mutmut reads its files relative to the copy
    try:
        for meta in sorted(Path("mutants").rglob("*.py.meta")):
            path = str(meta.relative_to("mutants"))[: -len(".meta")]
            results = json.loads(meta.read_text())["exit_code_by_key"]
            for name, exit_code in results.items():
                mutant = Mutant(name, path, status_by_exit_code[exit_code])
                if not mutant.detected:
                    diff = get_diff_for_mutant(name, path=path).splitlines()
                    mutant.removed = [x[1:].strip() for x in diff[2:] if x.startswith("-")]
                    mutant.added = [x[1:].strip() for x in diff[2:] if x.startswith("+")]
                mutants.append(mutant)
    finally:
        os.chdir(here)
    return mutants


def load_reasons(path: Path = REASONS) -> list[dict]:
    return tomllib.loads(path.read_text()).get("survivor", [])


def reason_for(mutant: Mutant, reasons: list[dict]) -> dict | None:
    """The first entry whose function, removed text and added text all match the mutant."""
    removed, added = "\n".join(mutant.removed), "\n".join(mutant.added)
    for entry in reasons:
        if "function" in entry and entry["function"] != mutant.function:
            continue
        if entry.get("original", "") not in removed or entry.get("mutated", "") not in added:
            continue
        return entry
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def change(mutant: Mutant, width: int = 60) -> str:
    """The mutation in a few words: the differing part of the line, with some context."""
    before, after = " ".join(mutant.removed), " ".join(mutant.added)
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while end < min(len(before), len(after)) - start and before[-1 - end] == after[-1 - end]:
        end += 1
    context = max(0, (width - max(len(before), len(after)) + start + end) // 2)
    left = max(0, start - max(context, 12))

    def cut(text: str) -> str:
        right = min(len(text), len(text) - end + max(context, 12))
        return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")

    shown_before = cut(before) if before else "(nothing)"
    return f"`{_cell(shown_before)}` → `{_cell(cut(after)) if after else '(removed)'}`"


def render(
    mutants: list[Mutant], run: dict, reasons: list[dict], min_score: float
) -> tuple[str, float, int]:
    """The section, the overall score (percent) and the number of unexplained survivors."""
    by_package: dict[str, Counter] = {}
    for mutant in mutants:
        by_package.setdefault(mutant.package, Counter())[mutant.status] += 1
    total = Counter()
    for counts in by_package.values():
        total.update(counts)

    def score(counts: Counter) -> float:
        return 100 * sum(counts[s] for s in DETECTED) / max(1, sum(counts.values()))

    minutes, seconds = divmod(run["seconds"], 60)
    lines = [
        f"## {HEADING}",
        "",
        f"Last run {run['date']}: mutmut {run['mutmut']}, {run['workers']} worker(s) on this "
        f"2-core machine (load average {run.get('load', '?')} when it started, the machine "
        f"being shared); wall time {minutes} min {seconds:02d} s for the copy and the mutmut "
        f"run. Score = mutants the tests detect (killed or timed out) / all mutants; "
        f"the goal is {min_score:.0f}% (`make mutation` fails below it, and when a survivor "
        "has no reason).",
        "",
        "| package | mutants | killed | timeout | survived | no tests | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, counts in [*sorted(by_package.items()), ("**all**", total)]:
        lines.append(
            f"| {label} | {sum(counts.values())} | {counts['killed']} | {counts['timeout']} "
            f"| {counts['survived']} | {counts['no tests']} | {score(counts):.1f}% |"
        )
    undetected = [m for m in mutants if not m.detected]
    unexplained = 0
    lines += [
        "",
        f"### Surviving mutants ({len(undetected)})",
        "",
        "Each is equivalent (no input tells it from the code) or acceptable for the reason "
        "given; the reasons are in `tests/mutation_survivors.toml`, matched by the changed "
        "code. To see one: `cd build/mutation && ../../.venv/bin/mutmut show <mutant>`.",
        "",
        "| mutant | change | why it survives |",
        "|---|---|---|",
    ]
    for mutant in sorted(undetected, key=lambda m: (m.function, int(m.number))):
        entry = reason_for(mutant, reasons)
        if entry is None:
            unexplained += 1
            why = "**unexplained**: kill it with a test, or say why in the survivors file"
        else:
            why = entry["reason"]
        status = "" if mutant.status == "survived" else f" ({mutant.status})"
        short = mutant.function.removeprefix("mlgate.")
        lines.append(f"| `{short}` {mutant.number}{status} | {change(mutant)} | {_cell(why)} |")
    lines += ["", ""]
    return "\n".join(lines), score(total), unexplained


def report(workdir: Path = WORKDIR, *, write: Path | None, min_score: float) -> int:
    if not (workdir / "run.json").exists():
        print(f"no finished mutmut run in {workdir}: run `make mutation` first")
        return 2
    mutants = load_mutants(workdir)
    run = json.loads((workdir / "run.json").read_text())
    reasons = load_reasons()
    section, total_score, unexplained = render(mutants, run, reasons, min_score)
    undetected = [m for m in mutants if not m.detected]
    used = {id(reason_for(m, reasons)) for m in undetected}
    stale = [r for r in reasons if id(r) not in used]
    print(section)
    if write:
        write_section(write, HEADING, section)
        print(f"written to {write}")
    for entry in stale:
        print(f"note: no survivor matches this reason any more: {entry}")
    failures = []
    if total_score < min_score:
        failures.append(f"score {total_score:.1f}% is below the goal of {min_score:.0f}%")
    if unexplained:
        failures.append(f"{unexplained} surviving mutant(s) have no reason")
    for failure in failures:
        print(f"make mutation: {failure}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--write", type=Path, help="the Markdown file for the score section")
    parser.add_argument("--min-score", type=float, default=90.0, help="goal, in percent")
    args = parser.parse_args()
    return report(args.workdir, write=args.write, min_score=args.min_score)


if __name__ == "__main__":
    sys.exit(main())
