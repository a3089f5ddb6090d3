#!/usr/bin/env python3
"""The rollout decision on synthetic score streams (`make rollout-simulation`).

A canary and the champion score the same labelled rows every day; the decision
(``mlgate.gates.sequential.decide``) looks after each day, as the rollout does. For a few
daily volumes of labelled positives: how often a canary only as good as the champion is
promoted (``--reps`` rollouts; the configured level is alpha), and how many days it takes
to roll back a canary 5 points of AUC-PR worse (median and 90th percentile). The section
"Rollout decision: measured" of docs/monitoring.md is replaced with the table (``--write``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from bench_docs import publish  # scripts/ is on sys.path when run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO / "tests"))

SECTION = "Rollout decision: measured"
RATE = 0.1  # positives among the labelled rows


def main() -> int:
    from mlgate.gates.sequential import RolloutRule
    from support.rollout_simulation import (
        CHAMPION_STRENGTH,
        NO_PROOF,
        PROMOTED,
        WORSE,
        simulate,
        strength_for,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1_000, help="rollouts of an equal canary")
    parser.add_argument("--drop-reps", type=int, default=200, help="rollouts of a worse one")
    parser.add_argument("--positives", default="50,100,200", help="labelled positives a day")
    parser.add_argument("--write", type=Path, help="docs/monitoring.md to update")
    args = parser.parse_args()

    rule = RolloutRule()
    worse = strength_for(0.05, RATE)
    rows = []
    for positives in (int(p) for p in args.positives.split(",")):
        day = {"rows": int(positives / RATE), "rate": RATE, "samples": 100}
        started = time.monotonic()
        equal = simulate(args.reps, CHAMPION_STRENGTH, rule, **day, seed=positives)
        drop = simulate(args.drop_reps, worse, rule, **day, seed=positives + 1)
        days = drop.days.get(WORSE, [rule.max_days])
        rows.append(
            f"| {positives} ({day['rows']:,} rows) | {equal.rate(PROMOTED):.1%} | "
            f"{equal.rate(WORSE):.1%} | {equal.rate(NO_PROOF):.1%} | {drop.rate(WORSE):.0%} | "
            f"{np.median(days):.0f} / {np.percentile(days, 90):.0f} |"
        )
        print(f"{positives} positives a day: {time.monotonic() - started:.0f} s", flush=True)
    section = "\n".join(
        [
            f"## {SECTION}",
            "",
            f"`make rollout-simulation`: {args.reps:,} rollouts of a canary as good as the "
            f"champion and {args.drop_reps} of one 5 points of AUC-PR worse, per daily volume; "
            f"the default rule (alpha {rule.alpha}, effect {rule.effect}, min_days "
            f"{rule.min_days}, max_days {rule.max_days}); {RATE:.0%} of the rows positive; "
            "each day's variance from 100 paired resamples.",
            "",
            "| labelled positives a day | equal canary promoted | equal canary rolled back "
            "as worse | equal canary: no proof, champion stays | worse canary rolled back as "
            "worse | days to roll it back, median / p90 |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    publish(section, SECTION, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
