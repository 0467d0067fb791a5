"""The cost of one look with segments: `allocate` over segments x variants at the engine's default samples.

    .venv/bin/python benchmarks/look_cost.py [--repeats 3] [--before-src DIR]

Builds one broadcast an hour into its send (12 five-minute cohorts per segment and variant, clicks
arrived as the default delay law allows) and one triggered experiment alike, at 10, 50 and 200 segments
x 5 and 10 variants, and times `allocate` (the median of `--repeats` calls, default `PolicyConfig`: the
learner's). With `--before-src`, the same is timed on another copy of the source in a subprocess (e.g.
`git archive main src | tar -x -C /tmp/before`, then `--before-src /tmp/before/src`) and both are
printed side by side. Prints a markdown table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from copyloom.domain.values import MODES, Mode
from copyloom.engine import Cohort, PolicyConfig, allocate

SHAPES = ((10, 5), (10, 10), (50, 5), (50, 10), (200, 5), (200, 10))
_BUCKETS = 12
_BUCKET_S = 300.0
_SENDS_PER_HOUR = 500_000
_MODES: tuple[Mode, ...] = MODES


def _cohorts(segments: int, variants: int, now: float, rng: np.random.Generator) -> list[Cohort]:
    shares = rng.dirichlet(np.ones(segments))
    rates = 0.02 * rng.uniform(0.8, 1.2, (segments, variants))
    cohorts: list[Cohort] = []
    for b in range(_BUCKETS):
        sent_at = b * _BUCKET_S
        arrived = PolicyConfig().delay.arrived_share(np.array([now - sent_at]))[0]
        per_bucket = _SENDS_PER_HOUR / _BUCKETS
        for s in range(segments):
            sends = rng.multinomial(round(per_bucket * shares[s]), np.full(variants, 1.0 / variants))
            clicks = rng.binomial(sends, rates[s] * arrived)
            cohorts.extend(
                Cohort(f"v{v}", sent_at, int(sends[v]), int(clicks[v]), f"segment={s}")
                for v in range(variants)
                if sends[v] > 0
            )
    return cohorts


def measure(repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds of one `allocate` per shape ("SxV") and mode."""
    now = _BUCKETS * _BUCKET_S
    timings: dict[str, dict[str, float]] = {}
    for segments, variants in SHAPES:
        cohorts = _cohorts(segments, variants, now, np.random.default_rng([segments, variants]))
        names = [f"v{v}" for v in range(variants)]
        row: dict[str, float] = {}
        for mode in _MODES:
            config = PolicyConfig(mode=mode)
            spent = []
            for i in range(repeats):
                started = time.perf_counter()
                allocate(names, cohorts, now, config, np.random.default_rng(i))
                spent.append(time.perf_counter() - started)
            row[mode] = round(statistics.median(spent), 3)
        timings[f"{segments}x{variants}"] = row
    return timings


def _before(src: str, repeats: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": src}
    command = [sys.executable, __file__, "--repeats", str(repeats), "--json-only"]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, dict[str, float]] = json.loads(output.strip().splitlines()[-1])["after"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before-src", default=None, help="another copy's src folder to time first")
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    before = _before(args.before_src, args.repeats) if args.before_src else None
    after = measure(args.repeats)
    result: dict[str, Any] = {"repeats": args.repeats, "before": before, "after": after}
    if not args.json_only:
        print(
            "| segments x variants | "
            + " | ".join(f"{m} {w}" for m in _MODES for w in ("before", "after"))
            + " |"
        )
        print("|---|---:|---:|---:|---:|")
        for shape, row in after.items():
            old = before[shape] if before else {}
            cells = " | ".join(f"{old.get(m, '')} | {row[m]}" for m in _MODES)
            print(f"| {shape} | {cells} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
