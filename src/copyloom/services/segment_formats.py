"""The per-segment figures (`services.segments`) as JSON, CSV rows, Markdown and a terminal table (pure)."""

from __future__ import annotations

from typing import Any

from copyloom.domain.values import Experiment, Metric
from copyloom.services import report_text as text
from copyloom.services.segments import SegmentBreakdown, SegmentFigures, SegmentVariant

DEFINITION = (
    "per segment, the leader is the variant with the highest P(best) in the segment's latest allocation "
    "(before one, the highest {metric} rate); incremental {metric}s of choosing per segment = sum over "
    "segments of sends x (the segment leader's {metric} rate - the overall leader's {metric} rate in that "
    "segment), choices fixed at the point estimates, 95 % interval by Monte Carlo over "
    "Beta(0.5 + {metric}s, 0.5 + sends - {metric}s) posteriors (seed 0)"
)
"""How the segment figures are computed, as the reports state it (docs/reports.md, "By segment")."""


def segments_definition(metric: Metric) -> str:
    return DEFINITION.format(metric=metric)


def segments_json(breakdown: SegmentBreakdown | None, metric: Metric) -> dict[str, Any] | None:
    """Every segment figure as JSON-ready values; None for an experiment without context."""
    if breakdown is None:
        return None
    return {
        "overall_leader": breakdown.overall_leader,
        "incremental": text.number(breakdown.incremental),
        "incremental_ci": text.interval_json(breakdown.incremental_ci),
        "segments": [_segment_json(s) for s in breakdown.segments],
        "definition": segments_definition(metric),
    }


def _segment_json(s: SegmentFigures) -> dict[str, Any]:
    return {
        "segment": s.segment,
        "sends": s.sends,
        "leader": s.leader,
        "winner": s.winner,
        "disagrees": s.disagrees,
        "gain_rate": text.number(s.gain_rate),
        "incremental": text.number(s.incremental),
        "variants": [_variant_json(v) for v in s.variants],
    }


def _variant_json(v: SegmentVariant) -> dict[str, Any]:
    return {
        "variant_id": v.variant_id,
        "sends": v.sends,
        "clicks": v.clicks,
        "cta_clicks": v.cta_clicks,
        "opens": v.opens,
        "bot_clicks": v.bot_clicks,
        "machine_opens": v.machine_opens,
        "rate": text.number(v.rate),
        "rate_ci": text.interval_json(v.rate_ci),
        "p_best": text.number(v.p_best),
        "weight": text.number(v.weight),
    }


def segments_csv_rows(
    breakdown: SegmentBreakdown, experiment: Experiment, columns: list[str]
) -> list[list[str]]:
    """A row per segment and variant under the report's CSV `columns` (the per-variant header plus
    `segment`): the counts, the metric's rate and interval, P(best) and weight; the rest empty."""
    metric = experiment.definition.metric
    control = experiment.definition.control.variant_id
    rows = []
    for s in breakdown.segments:
        for v in s.variants:
            values: dict[str, object] = {
                **_variant_json(v),
                "experiment_id": experiment.experiment_id,
                "metric": metric,
                "segment": s.segment,
                "is_control": text.flag(v.variant_id == control),
                "is_winner": text.flag(v.variant_id == s.winner),
                f"{metric}_rate": v.rate,
                f"{metric}_rate_low": v.rate_ci.low,
                f"{metric}_rate_high": v.rate_ci.high,
                "p_best": v.p_best,
                "weight": v.weight,
            }
            rows.append([text.cell(values.get(c)) for c in columns])
    return rows


def segments_markdown(breakdown: SegmentBreakdown | None, metric: Metric) -> list[str]:
    """The report's "By segment" section (none for an experiment without context)."""
    if breakdown is None:
        return []
    lines = ["## By segment", "", *_incremental_sentence(breakdown, metric), ""]
    per_variant_head = "Per variant: rate (95 %), P(best), weight"
    header = ["Segment", "Sends", "Leader", "Winner", per_variant_head, "vs overall"]
    lines += [text.table_row(header), text.table_row(["---"] * len(header))]
    for s in breakdown.segments:
        per_variant = "; ".join(_variant_cell(v) for v in s.variants)
        lines.append(
            text.table_row(
                [
                    text.escape(s.segment) or "(none)",
                    f"{s.sends:,}",
                    text.escape(s.leader or "-") + (" ≠ overall" if s.disagrees else ""),
                    text.escape(s.winner or "-"),
                    per_variant,
                    _difference(s, metric),
                ]
            )
        )
    return [*lines, ""]


def _variant_cell(v: SegmentVariant) -> str:
    rate = f"{text.percent(v.rate)} ({text.interval_text(v.rate_ci, text.percent)})"
    return f"{text.escape(v.variant_id)} {rate}, {text.percent(v.p_best)}, {text.percent(v.weight)}"


def _incremental_sentence(breakdown: SegmentBreakdown, metric: Metric) -> list[str]:
    overall = text.escape(breakdown.overall_leader or "-")
    differ = len(breakdown.disagreeing)
    if not differ:
        return [f"Every segment's leader is the overall leader, {overall}: choosing per segment adds none."]
    return [
        f"{differ} of {len(breakdown.segments)} segments lead with another variant than the overall leader, "
        f"{overall}. Incremental {metric}s from choosing per segment instead of {overall} everywhere: "
        f"{text.count(breakdown.incremental)} "
        f"(95 % interval {text.interval_text(breakdown.incremental_ci, text.count)})."
    ]


def _difference(s: SegmentFigures, metric: Metric) -> str:
    if not s.disagrees or s.gain_rate is None:
        return ""
    return f"{s.gain_rate * 100:+.2f} pp, {text.count(s.incremental)} {metric}s"


def segments_text(breakdown: SegmentBreakdown | None, metric: Metric) -> list[str]:
    """A short table for `experiment show`: per segment its sends, leader, winner and the difference to
    the overall leader; then the incremental events of choosing per segment."""
    if breakdown is None:
        return []
    lines = [f"{'segment':<34}{'sends':>9}  {'leader':<14}{'winner':<14}vs overall"]
    for s in breakdown.segments:
        leader = (s.leader or "-") + ("*" if s.disagrees else "")
        name, winner = s.segment or "(none)", s.winner or "-"
        lines.append(f"{name:<34}{s.sends:>9}  {leader:<14}{winner:<14}{_difference(s, metric)}")
    ci = breakdown.incremental_ci
    lines.append(
        f"* leads instead of the overall leader {breakdown.overall_leader or '-'}; incremental {metric}s "
        f"from choosing per segment: {text.count(breakdown.incremental)} "
        f"(95 % interval {text.count(ci.low)} to {text.count(ci.high)})"
    )
    return lines
