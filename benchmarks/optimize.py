"""Optimisation quality of every policy on simulated sends: a markdown table, then one JSON line.

Usage: .venv/bin/python benchmarks/optimize.py [--seeds 40] [--first-seed 0] [--quick] [--scenario TEXT]
    [--policy NAME ...] [--feedback delayed|instant]
"""

from __future__ import annotations

import argparse
import json

from copyloom.bench import FEEDBACKS, render_table, run_optimize_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", help="only the scenarios whose name contains this text")
    parser.add_argument("--policy", action="append", help="only this policy (repeatable)")
    parser.add_argument("--feedback", choices=FEEDBACKS, default="delayed", help="instant: the reference")
    args = parser.parse_args()
    result = run_optimize_benchmark(
        seeds=args.seeds,
        quick=args.quick,
        workers=args.workers,
        scenario=args.scenario,
        policies=tuple(args.policy) if args.policy else None,
        first_seed=args.first_seed,
        feedback=args.feedback,
    )
    print(render_table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
