"""`copyloom demo --segments`: the definition's country field, and the per-segment figures at the end.

The simulated world (`braze.COUNTRY_SHARES`, `braze.COUNTRY_RATES`) knows raw countries only; the
figures map them to the experiment's segments with the `domain.context.segment_of` the content endpoint
uses, and set the learner's per-segment results (read from the store, which holds segments only) beside
the truth: each segment's truly best wording, and what the send would have earned in expectation from
the single best wording served to everyone and from each segment served its own best.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from copyloom.demo.braze import COUNTRY_FIELD, COUNTRY_RATES, TRUE_RATES, Tally
from copyloom.domain.context import all_segments, parse_context, segment_of
from copyloom.domain.values import ContextField, SegmentId
from copyloom.services.experiments import ExperimentReport
from copyloom.services.segments import SegmentFigures, experiment_segments
from copyloom.storage.db import Store

CATEGORIES = ("GB", "DE")
"""The declared categories: FR and US map to `other`, recipients without a country to `unknown`."""
CONTEXT = [{"name": COUNTRY_FIELD, "braze": "${country}", "categories": list(CATEGORIES)}]
"""The definition's `context` with `--segments`, as a brand would write it."""


def mixed_rates(countries: Mapping[str, float]) -> dict[str, float]:
    """Each variant's true rate over recipients in these proportions (or counts) by country."""
    total = sum(countries.values()) or 1.0
    return {v: sum(n * COUNTRY_RATES[c][v] for c, n in countries.items()) / total for v in TRUE_RATES}


def countries_by_segment(
    fields: tuple[ContextField, ...], countries: Mapping[str, int]
) -> dict[SegmentId, dict[str, int]]:
    """The recipients by raw country, grouped by the segment the content endpoint maps each country to."""
    grouped: dict[SegmentId, dict[str, int]] = {}
    for country, n in countries.items():
        grouped.setdefault(segment_of(fields, {COUNTRY_FIELD: country}), {})[country] = n
    return grouped


def segments_result(store: Store, report: ExperimentReport, tally: Tally, clicks: int) -> dict[str, Any]:
    """The per-segment figures of the finished send, with the clicks gained by choosing per segment.

    `clicks_gained_by_choosing_per_segment` is the counted `clicks` minus what the single best wording
    served to everyone would have earned in expectation; `clicks_served_expected` is the expectation of
    the wordings actually served in each segment (the counted clicks without their chance);
    `incremental_estimate` is the reports' own estimate of the gain, from the counted data alone
    (`services.segments`).
    """
    experiment = report.experiment
    breakdown = experiment_segments(store, experiment.experiment_id, report.leader)
    truth = segment_rates(experiment.definition.context, tally.countries)
    figures = breakdown.segments if breakdown else ()
    served_expected = sum(
        v.sends * truth.get(s.segment, {}).get(v.variant_id, 0.0) for s in figures for v in s.variants
    )
    expected = expected_clicks(experiment.definition.context, tally.countries)
    return {
        "field": COUNTRY_FIELD,
        "context_calls": tally.context_calls,
        "recipients_by_country": dict(sorted(tally.countries.items())),
        "segments": [_segment_json(s, truth.get(s.segment, {})) for s in figures],
        "single_best_variant": expected.pop("single_best_variant"),
        "clicks_served_expected": round(served_expected, 1),
        **{name: round(value, 1) for name, value in expected.items()},
        "clicks_gained_by_choosing_per_segment": round(clicks - expected["clicks_single_best_expected"], 1),
        "incremental_estimate": round(breakdown.incremental, 1) if breakdown else 0.0,
    }


def segment_rates(
    fields: tuple[ContextField, ...], countries: Mapping[str, int]
) -> dict[SegmentId, dict[str, float]]:
    """Each segment's true rates: those of its countries, weighted by their recipients."""
    return {
        segment: mixed_rates(members) for segment, members in countries_by_segment(fields, countries).items()
    }


def expected_clicks(fields: tuple[ContextField, ...], countries: Mapping[str, int]) -> dict[str, Any]:
    """What these recipients would have clicked in expectation, from the known rates: with the single best
    wording (`single_best_variant`) served to everyone, and with each segment served its own best from
    the first send (the ceiling of choosing per segment)."""
    overall = mixed_rates(countries)
    single = max(overall, key=lambda v: overall[v])
    by_segment = countries_by_segment(fields, countries)
    return {
        "single_best_variant": single,
        "clicks_single_best_expected": sum(countries.values()) * overall[single],
        "clicks_per_segment_best_expected": sum(
            sum(members.values()) * max(mixed_rates(members).values()) for members in by_segment.values()
        ),
    }


def _segment_json(s: SegmentFigures, true_rates: Mapping[str, float]) -> dict[str, Any]:
    """One segment as the result's top-level figures give the experiment: per variant its true rate,
    sends, clicks, weight and P(best) (None before the learner has allocated the segment)."""
    return {
        "segment": s.segment,
        "sends": s.sends,
        "clicks": sum(v.clicks for v in s.variants),
        "variants": [
            {
                "variant_id": v.variant_id,
                "true_rate": round(true_rates.get(v.variant_id, 0.0), 6),
                "sends": v.sends,
                "clicks": v.clicks,
                "weight": None if v.weight is None else round(v.weight, 4),
                "p_best": None if v.p_best is None else round(v.p_best, 4),
            }
            for v in s.variants
        ],
        "leader": s.leader,
        "truly_best": max(true_rates, key=lambda v: true_rates[v]) if true_rates else None,
    }


def segments_table(segments: dict[str, Any]) -> Table:
    """The per-segment figures as a terminal table: sends, clicks, final weights, leader and truly best."""
    table = Table(title=f"per segment ({segments['field']})")
    for column in ("segment", "sends", "clicks", *TRUE_RATES, "leader", "truly best"):
        table.add_column(column, justify="right")
    for s in segments["segments"]:
        weight = {v["variant_id"]: v["weight"] for v in s["variants"]}
        weights = [weight.get(v) for v in TRUE_RATES]
        table.add_row(
            s["segment"],
            f"{s['sends']:,}",
            f"{s['clicks']:,}",
            *("-" if w is None else f"{w:.1%}" for w in weights),
            s["leader"] or "-",
            f"{s['truly_best']}{'' if s['leader'] == s['truly_best'] else ' (differs)'}",
        )
    return table


def segments_text(result: dict[str, Any]) -> str:
    """How many of the clicks gained over an even split came from choosing per segment, against what the
    single best wording, the wordings served and each segment's own best would have earned."""
    segments = result["segments"]
    single = segments["single_best_variant"]
    return (
        f"clicks gained by choosing per segment: {segments['clicks_gained_by_choosing_per_segment']:+,.0f} "
        f"of the {result['clicks_gained_vs_even_split']:+,.0f} (expected: "
        f"{segments['clicks_single_best_expected']:,.0f}\nserving {single}, the best single wording, to "
        f"everyone; {segments['clicks_served_expected']:,.0f} from the wordings served; "
        f"{segments['clicks_per_segment_best_expected']:,.0f} from each\nsegment's own best from the first "
        f"send; the report's estimate from its own counts: {segments['incremental_estimate']:+,.0f})\n"
        f"{segments['context_calls']:,} content calls carried ctx_{segments['field']}; stored segments: "
        f"{', '.join(s['segment'] for s in segments['segments'])}"
    )


def leaders_line(store: Store, experiment_id: str) -> str:
    """Each segment's leader and its weight in force, in declaration order, for the progress lines
    (empty before any send): `by country  GB benefit 97%  DE urgency 97%  other …`."""
    breakdown = experiment_segments(store, experiment_id, None)
    found = {s.segment: s for s in breakdown.segments} if breakdown else {}
    leaders = []
    for segment in all_segments(parse_context(CONTEXT)):
        s = found.get(segment)
        if s is None or s.leader is None:
            continue
        weight = next((v.weight for v in s.variants if v.variant_id == s.leader), None)
        value = segment.partition("=")[2]  # the demo declares one field: its value names the segment
        leaders.append(f"{value} {s.leader}{'' if weight is None else f' {weight:.0%}'}")
    return f"by {COUNTRY_FIELD}  " + "  ".join(leaders) if leaders else ""
