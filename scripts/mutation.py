#!/usr/bin/env python3
"""Mutation testing (`make mutation`): mutmut on the gates, the record rules and the config.

mutmut names a mutated module after its path and drops only a leading `src/`, so it cannot
run on `include/mlgate` in place. This script lays out a copy, build/mutation/ (git-ignored;
made afresh each run): include/mlgate as src/mlgate, include/pipelines, tests/conftest.py,
the test files and pyproject.toml, whose [tool.mutmut] section says what to mutate and
which tests judge the mutants. It runs `mutmut run` there on one worker (the machine has
2 cores and others use it), timing the whole, then scripts/mutation_report.py writes the
score and the surviving mutants to docs/testing.md and fails the run when the score is
below the goal or a survivor has no written reason.

After a run, `cd build/mutation && ../../.venv/bin/mutmut show <mutant>` shows one mutant;
`mutmut browse` there lists them all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKDIR = REPO / "build" / "mutation"
STAGED_PACKAGE_ROOT = "src/"  # in the copy
PACKAGE_ROOT = "include/"  # in the repository


def mutmut_settings() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]


def source_of(staged: str) -> Path:
    """The repository path a path of the copy comes from (src/... is include/...)."""
    if staged.startswith(STAGED_PACKAGE_ROOT):
        staged = PACKAGE_ROOT + staged[len(STAGED_PACKAGE_ROOT) :]
    return REPO / staged


def stage(workdir: Path) -> list[str]:
    """Lay out the copy mutmut runs in; returns the staged paths."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = mutmut_settings()
    staged = [
        *settings["also_copy"],
        *settings["pytest_add_cli_args_test_selection"],
        "tests/conftest.py",
        "pyproject.toml",
    ]
    for path in staged:
        source, target = source_of(path), workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return staged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--max-children", type=int, default=1, help="mutmut's workers")
    parser.add_argument("--write", type=Path, help="the Markdown file for the score section")
    parser.add_argument("--min-score", type=float, default=90.0, help="goal, in percent")
    args = parser.parse_args()

    began = time.monotonic()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stage(args.workdir)
    log = args.workdir / "mutmut.log"
    print(f"mutmut run in {args.workdir} (log: {log}) ...", flush=True)
    with log.open("w") as out:
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=args.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    mutmut_seconds = time.monotonic() - began
    if run.returncode != 0:
        print(log.read_text()[-3000:])
        print(f"mutmut run failed (exit code {run.returncode}); see {log}")
        return run.returncode
    (args.workdir / "run.json").write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "mutmut": version("mutmut"),
                "workers": args.max_children,
                "seconds": round(mutmut_seconds),
                "load": load,
            }
        )
    )

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mutation_report import report

    return report(args.workdir, write=args.write, min_score=args.min_score)


if __name__ == "__main__":
    sys.exit(main())
