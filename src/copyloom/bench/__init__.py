"""The optimisation-quality benchmark, beside the engine rather than in it: `copyloom.engine` holds only
what `allocate` needs, and never imports this package.

`optimize` scores every policy on simulated sends, `simulate` drives `allocate` as the learner does,
`oracle` is the reference row told the true rates. `copyloom bench optimize` and `benchmarks/optimize.py`
run it.
"""

from __future__ import annotations

from copyloom.bench.optimize import (
    DAY_S,
    FEEDBACKS,
    HOUR_S,
    INSTANT_DELAY,
    ORACLE,
    SAMPLES,
    SCENARIOS,
    TRUE_DELAY,
    Entrant,
    Feedback,
    floor_bound,
    pooled_gain_by_period,
    render_table,
    run_optimize_benchmark,
    takes_oracle,
)
from copyloom.bench.segments import CONTEXTUAL

__all__ = [
    "CONTEXTUAL",
    "DAY_S",
    "FEEDBACKS",
    "HOUR_S",
    "INSTANT_DELAY",
    "ORACLE",
    "SAMPLES",
    "SCENARIOS",
    "TRUE_DELAY",
    "Entrant",
    "Feedback",
    "floor_bound",
    "pooled_gain_by_period",
    "render_table",
    "run_optimize_benchmark",
    "takes_oracle",
]
