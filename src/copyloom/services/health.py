"""Health checks of a running experiment: is the split what the weights promised, do the events join, is
the Current still sending, are the opens real. Computed by the learner at each look (pure functions on
counts; `health_inputs` reads them) and kept with its allocation, so the dashboard, `experiment show`,
`/metrics` and alerts all read one verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from copyloom.domain.events import EngagementKind
from copyloom.domain.values import VariantId
from copyloom.services.adjusted import WeightsInForce

Verdict = Literal["ok", "warning", "failing", "not_enough_data"]
CheckName = Literal["sample_ratio", "unattributed_clicks", "current_silent", "machine_opens"]
CHECK_NAMES: tuple[CheckName, ...] = get_args(CheckName)
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

SRM_P_VALUE = 0.001
"""A chi-square p-value below this flags a sample-ratio mismatch (the usual threshold)."""
SRM_MIN_DEVIATION = 0.02
"""... when some variant's sends are also off what the weights promised by more than this share: allocation
times and cache refreshes blur the weights in force by a few seconds, which a huge send would otherwise
flag."""
SRM_MIN_SENDS = 1000
UNATTRIBUTED_WARNING = 0.2
UNATTRIBUTED_FAILING = 0.5
UNATTRIBUTED_MIN_CLICKS = 50
SILENT_MIN_SENDS = 1000
MACHINE_OPEN_SHARE = 0.5
MACHINE_OPEN_MIN = 100
CURRENTS_KINDS: tuple[EngagementKind, ...] = (
    "click",
    "bot_click",
    "machine_open",
    "delivery",
    "braze_send",
    "bounce",
    "unsubscribe",
    "spam",
)
"""Engagement kinds only a Braze Current reports (a real open may come from copyloom's own pixel)."""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: CheckName
    verdict: Verdict
    detail: str
    """What was measured, in words, with the figures."""
    value: float | None = None
    """The check's statistic: the p-value, a share, or hours of silence."""


@dataclass(frozen=True, slots=True)
class SentSlice:
    """Sends of one variant in one send-time bucket [start, start + width), and their Currents events."""

    start: float
    width: float
    variant_id: VariantId
    sends: int
    currents_events: int


def sample_ratio(
    slices: Sequence[SentSlice], history: Sequence[WeightsInForce], variant_ids: Sequence[VariantId]
) -> HealthCheck:
    """Observed sends per variant against the sends the weights in force promised: each bucket's sends
    spread by the weights averaged over the bucket (the allocations in force during it, by time);
    chi-square test on the variants that could be drawn."""
    if not history:
        return HealthCheck("sample_ratio", "not_enough_data", "no allocation yet")
    expected = dict.fromkeys(variant_ids, 0.0)
    observed = dict.fromkeys(variant_ids, 0.0)
    totals: dict[tuple[float, float], int] = {}
    for s in slices:
        totals[(s.start, s.width)] = totals.get((s.start, s.width), 0) + s.sends
        if s.variant_id in observed:
            observed[s.variant_id] += s.sends
    for (start, width), sends in totals.items():
        for variant, weight in _mean_weights(history, start, width).items():
            if variant in expected:
                expected[variant] += sends * weight
    drawn = [v for v in variant_ids if expected[v] > 0]
    total = sum(observed[v] for v in drawn)
    if total < SRM_MIN_SENDS or len(drawn) < 2:
        return HealthCheck(
            "sample_ratio", "not_enough_data", f"{total:,.0f} sends; the check needs {SRM_MIN_SENDS:,}"
        )
    scale = total / sum(expected[v] for v in drawn)
    statistic = sum((observed[v] - expected[v] * scale) ** 2 / (expected[v] * scale) for v in drawn)
    p_value = _chi2_sf(statistic, len(drawn) - 1)
    worst = max(drawn, key=lambda v: abs(observed[v] / (expected[v] * scale) - 1))
    deviation = observed[worst] / (expected[worst] * scale) - 1
    detail = (
        f"{worst}: {observed[worst]:,.0f} sends where the weights promised {expected[worst] * scale:,.0f} "
        f"({deviation:+.1%}); chi-square p = {p_value:.2g} over {len(drawn)} variants"
    )
    failing = p_value < SRM_P_VALUE and abs(deviation) > SRM_MIN_DEVIATION
    return HealthCheck("sample_ratio", "failing" if failing else "ok", detail, p_value)


def unattributed_clicks(attributed: int, unattributed: int, scope: str) -> HealthCheck:
    """The share of clicks from the experiment's campaigns that joined no assignment: usually a wrong
    `recipient_field`, a Current without the dispatch id, or sends that did not go through the snippet."""
    total = attributed + unattributed
    if total < UNATTRIBUTED_MIN_CLICKS:
        return HealthCheck("unattributed_clicks", "not_enough_data", f"{total} clicks {scope} so far")
    share = unattributed / total
    verdict: Verdict = (
        "failing" if share > UNATTRIBUTED_FAILING else "warning" if share > UNATTRIBUTED_WARNING else "ok"
    )
    detail = f"{unattributed:,} of {total:,} clicks {scope} matched no assignment ({share:.0%})"
    return HealthCheck("unattributed_clicks", verdict, detail, share)


def current_silent(slices: Sequence[SentSlice], *, now: float, window_s: float) -> HealthCheck:
    """Whether the Current has gone quiet while sends go on: no Currents event at all (click, delivery,
    bounce, …) on the sends of the last day that are old enough to have had them."""
    recent = [s for s in slices if now - 86_400 <= s.start <= now - window_s]
    sends = sum(s.sends for s in recent)
    if sends < SILENT_MIN_SENDS:
        return HealthCheck("current_silent", "not_enough_data", f"{sends:,} sends old enough to check")
    events = sum(s.currents_events for s in recent)
    if events:
        return HealthCheck(
            "current_silent", "ok", f"{events:,} Currents events on {sends:,} recent sends", 0.0
        )
    detail = (
        f"no Currents event on {sends:,} sends of the last day older than {window_s / 3600:.1f} h: check the "
        "Current (its events, its S3 or HTTP target) and `copyloom ingest status`"
    )
    return HealthCheck("current_silent", "failing", detail, 1.0)


def machine_opens(opens: int, machine: int) -> HealthCheck:
    """Whether opens are mostly machine opens (Apple Mail Privacy Protection and other proxies), so that an
    open rate says little."""
    total = opens + machine
    if machine + opens < MACHINE_OPEN_MIN:
        return HealthCheck("machine_opens", "not_enough_data", f"{total} opens so far")
    share = machine / total
    verdict: Verdict = "warning" if share > MACHINE_OPEN_SHARE else "ok"
    return HealthCheck(
        "machine_opens", verdict, f"{machine:,} of {total:,} opens are machine opens ({share:.0%})", share
    )


def overall(checks: Sequence[HealthCheck]) -> Verdict:
    """The worst verdict of the checks (not_enough_data counts as ok)."""
    verdicts = {c.verdict for c in checks}
    return "failing" if "failing" in verdicts else "warning" if "warning" in verdicts else "ok"


def checks_json(checks: Sequence[HealthCheck]) -> dict[str, object]:
    return {
        "status": overall(checks),
        "checks": [
            {"name": c.name, "verdict": c.verdict, "detail": c.detail, "value": c.value} for c in checks
        ],
    }


def checks_from_json(data: Mapping[str, object]) -> tuple[HealthCheck, ...]:
    """The checks `checks_json` wrote (unknown names and verdicts are skipped)."""
    found = data.get("checks")
    checks: list[HealthCheck] = []
    for c in found if isinstance(found, list) else []:
        if not isinstance(c, dict):
            continue
        name, verdict, value = _NAMES.get(c.get("name")), _LEVELS.get(c.get("verdict")), c.get("value")
        if name is not None and verdict is not None:
            number = float(value) if isinstance(value, int | float) else None
            checks.append(HealthCheck(name, verdict, str(c.get("detail", "")), number))
    return tuple(checks)


_NAMES: dict[object, CheckName] = {name: name for name in CHECK_NAMES}
_LEVELS: dict[object, Verdict] = {verdict: verdict for verdict in VERDICTS}


def _mean_weights(history: Sequence[WeightsInForce], start: float, width: float) -> dict[VariantId, float]:
    """The weights in force over [start, start + width), averaged by time."""
    end = start + width
    times = [h.since for h in history]
    mixed: dict[VariantId, float] = {}
    for i, h in enumerate(history):
        begins = h.since if i else -math.inf
        ends = times[i + 1] if i + 1 < len(times) else math.inf
        overlap = min(ends, end) - max(begins, start)
        if overlap <= 0:
            continue
        for variant, weight in h.weights.items():
            mixed[variant] = mixed.get(variant, 0.0) + weight * overlap / width
    return mixed


def _chi2_sf(statistic: float, dof: int) -> float:
    from scipy.stats import chi2  # type: ignore[import-untyped]  # noqa: PLC0415 - slow to import; reports only

    return float(chi2.sf(statistic, dof))
