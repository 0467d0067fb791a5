"""Reports of an experiment's figures as Markdown, CSV or JSON text (pure: no IO)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Literal, get_args

from copyloom.domain.values import Metric
from copyloom.services import report_text as text
from copyloom.services.experiments import metric_events
from copyloom.services.guardrails import guardrails_json, guardrails_markdown
from copyloom.services.health import checks_json
from copyloom.services.report_adjusted import adjusted_json, adjusted_markdown
from copyloom.services.report_stats import Counts, Interval
from copyloom.services.reports import ExperimentFigures, Uplift, VariantFigures
from copyloom.services.segment_formats import (
    segments_csv_rows,
    segments_definition,
    segments_json,
    segments_markdown,
)

ReportFormat = Literal["md", "csv", "json"]
REPORT_FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)

DEFINITIONS = {
    "rates": "click rate = unique clicks / sends, open rate = unique opens / sends, each recipient and "
    "dispatch counted once; bot clicks and machine opens are shown apart and not counted",
    "rate_ci": "95 % credible interval from Beta(1 + events, 1 + sends - events); from 0 when there are none",
    "p_best": "posterior probability that the variant has the highest rate, from the newest learner run",
    "uplift": "the variant's {metric} rate / the control's - 1 on pooled counts (naive under a moving split; "
    "`adjusted` weights each send by its assignment probability), 95 % interval by Monte Carlo (seed 0)",
    "incremental_vs_control": "{metric}s - total sends x the control's {metric} rate",
    "incremental_vs_even": "{metric}s - sum over the k variants of (total sends / k) x that variant's rate",
}


def render_report(figures: ExperimentFigures, fmt: ReportFormat) -> str:
    """The report as text in `fmt`: "md" (to read), "csv" (a row per variant) or "json" (every figure)."""
    if fmt == "json":
        return json.dumps(figures_as_dict(figures), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(figures)
    return _markdown(figures)


def figures_as_dict(figures: ExperimentFigures) -> dict[str, Any]:
    """Every figure as JSON-ready values; a rate or uplift that cannot be computed is null."""
    e = figures.experiment
    metric = figures.metric
    return {
        "experiment": {
            "experiment_id": e.experiment_id,
            "name": e.definition.name,
            "status": e.status,
            "mode": e.definition.mode,
            "metric": metric,
            "placements": list(e.definition.placements),
            "floor": e.definition.floor,
            "control_holdout": e.definition.control_holdout,
            "min_sends_per_variant": e.definition.min_sends_per_variant,
            "created_at": e.created_at,
        },
        "sends": figures.sends,
        "leader": figures.leader,
        "leader_p_best": text.number(figures.leader_p_best),
        "winner": figures.winner,
        "last_learned_at": figures.last_learned_at,
        "variants": [_variant_dict(v) for v in figures.variants],
        "uplift": _uplift_dict(figures.uplift),
        "incremental_vs_even": text.number(figures.incremental_vs_even),
        "incremental_vs_even_ci": text.interval_json(figures.incremental_vs_even_ci),
        "incremental_vs_control": text.number(figures.incremental_vs_control),
        "incremental_vs_control_ci": text.interval_json(figures.incremental_vs_control_ci),
        "history": [
            {
                "at": p.at,
                "weights": {k: text.number(w) for k, w in p.weights.items()},
                "p_best": {k: text.number(w) for k, w in p.p_best.items()},
                "winner": p.winner,
            }
            for p in figures.history
        ],
        "cumulative": [
            {
                "at": p.at,
                "variant_id": p.variant_id,
                "sends": p.sends,
                "events": p.events,
                "rate": text.number(p.rate),
                "ci": text.interval_json(p.ci),
            }
            for p in figures.cumulative
        ],
        "gains": [
            {"at": g.at, "vs_even": text.number(g.vs_even), "vs_control": text.number(g.vs_control)}
            for g in figures.gains
        ],
        **(figures.sources.as_json() if figures.sources else {}),
        "adjusted": adjusted_json(figures.adjusted) if figures.adjusted else None,
        "health": checks_json(figures.health),
        "guardrails": guardrails_json(figures.experiment, figures.breaches),
        "segments": segments_json(figures.segments, metric),
        "definitions": {k: d.format(metric=metric) for k, d in DEFINITIONS.items()},
    }


def _variant_dict(v: VariantFigures) -> dict[str, Any]:
    return {
        "variant_id": v.variant_id,
        "is_control": v.is_control,
        "status": v.status,
        "added_at": v.added_at,
        "retired_at": v.retired_at,
        "retired_by": v.retired_by,
        "texts": dict(v.texts),
        "sends": v.sends,
        "delivered": v.delivered,
        "clicks": v.clicks,
        "cta_clicks": v.cta_clicks,
        "opens": v.opens,
        "bot_clicks": v.bot_clicks,
        "machine_opens": v.machine_opens,
        "bounced": v.bounced,
        "unsubscribed": v.unsubscribed,
        "spam": v.spam,
        "click_rate": text.number(v.click_rate),
        "click_rate_ci": text.interval_json(v.click_rate_ci),
        "cta_click_rate": text.number(v.cta_click_rate),
        "cta_click_rate_ci": text.interval_json(v.cta_click_rate_ci),
        "open_rate": text.number(v.open_rate),
        "open_rate_ci": text.interval_json(v.open_rate_ci),
        "p_best": text.number(v.p_best),
        "weight": text.number(v.weight),
    }


def _uplift_dict(uplift: Uplift | None) -> dict[str, Any] | None:
    if uplift is None:
        return None
    return {
        "variant_id": uplift.variant_id,
        "relative": text.number(uplift.relative),
        "ci": text.interval_json(uplift.ci),
        "incremental_events": text.number(uplift.incremental_events),
        "incremental_ci": text.interval_json(uplift.incremental_ci),
    }


_CSV_FIGURES = (
    "sends",
    "delivered",
    "clicks",
    "cta_clicks",
    "opens",
    "bot_clicks",
    "machine_opens",
    "bounced",
    "unsubscribed",
    "spam",
    "click_rate",
    "click_rate_low",
    "click_rate_high",
    "cta_click_rate",
    "cta_click_rate_low",
    "cta_click_rate_high",
    "open_rate",
    "open_rate_low",
    "open_rate_high",
    "p_best",
    "weight",
)


def _csv(figures: ExperimentFigures) -> str:
    placements = list(figures.experiment.definition.placements)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [
        "experiment_id",
        "metric",
        "variant_id",
        "is_control",
        "is_winner",
        *(f"text_{p}" for p in placements),
        *_CSV_FIGURES,
        "uplift_vs_control",
        "uplift_low",
        "uplift_high",
        "incremental_vs_control",
        "incremental_low",
        "incremental_high",
        *(["segment"] if figures.segments else []),
    ]
    writer.writerow(columns)
    for v in figures.variants:
        values = _variant_dict(v)
        numbers = {
            **values,
            "click_rate_low": v.click_rate_ci.low,
            "click_rate_high": v.click_rate_ci.high,
            "cta_click_rate_low": v.cta_click_rate_ci.low,
            "cta_click_rate_high": v.cta_click_rate_ci.high,
            "open_rate_low": v.open_rate_ci.low,
            "open_rate_high": v.open_rate_ci.high,
        }
        uplift = figures.uplift if figures.uplift and figures.uplift.variant_id == v.variant_id else None
        writer.writerow(
            [
                figures.experiment.experiment_id,
                figures.metric,
                v.variant_id,
                text.flag(v.is_control),
                text.flag(v.variant_id == figures.winner),
                *(v.texts.get(p, "") for p in placements),
                *(text.cell(numbers[name]) for name in _CSV_FIGURES),
                *_uplift_cells(uplift),
                *([""] if figures.segments else []),
            ]
        )
    if figures.segments:
        writer.writerows(segments_csv_rows(figures.segments, figures.experiment, columns))
    return out.getvalue()


def _uplift_cells(uplift: Uplift | None) -> list[str]:
    if uplift is None:
        return [""] * 6
    incremental = uplift.incremental_ci or Interval(math.nan, math.nan)
    return [
        text.cell(uplift.relative),
        text.cell(uplift.ci.low),
        text.cell(uplift.ci.high),
        text.cell(uplift.incremental_events),
        text.cell(incremental.low),
        text.cell(incremental.high),
    ]


def _markdown(figures: ExperimentFigures) -> str:
    e = figures.experiment
    lines = [
        f"# {text.escape(e.definition.name)}",
        "",
        f"Experiment `{e.experiment_id}`: {e.status}, {e.definition.mode}, optimising the "
        f"{figures.metric} rate. {figures.sends:,} sends. "
        f"Last learner run: {text.time_text(figures.last_learned_at)}.",
        "",
        "## Decision",
        "",
        *_decision(figures),
        "",
        "## Variants",
        "",
        *_variant_table(figures),
        "",
        *(adjusted_markdown(figures.adjusted, figures.metric, figures.sends) if figures.adjusted else []),
        *guardrails_markdown(figures.experiment, figures.breaches),
        *_sources_table(figures),
        *segments_markdown(figures.segments, figures.metric),
        "## How these figures are computed",
        "",
        *(
            f"- **{name.replace('_', ' ')}**: {d.format(metric=figures.metric)}"
            for name, d in DEFINITIONS.items()
        ),
        *([f"- **by segment**: {segments_definition(figures.metric)}"] if figures.segments else []),
        "",
        "See docs/reports.md for every figure and its formula.",
    ]
    return "\n".join(lines) + "\n"


def _sources_table(figures: ExperimentFigures) -> list[str]:
    """Sends and metric events per Braze campaign or Canvas step, when there is more than one or the
    definition names them; with the events counted apart."""
    breakdown = figures.sources
    if breakdown is None or (len(breakdown.sources) < 2 and not figures.experiment.definition.sources):
        return []
    metric = figures.metric
    header = ["Campaign or Canvas step", "Named as", "Sends", f"{metric.replace('_', ' ').capitalize()}s"]
    lines = ["## Where it ran", "", text.table_row(header), text.table_row(["---"] * len(header))]
    for s in breakdown.sources:
        name = text.escape(s.source_id) if s.source_id else "(not sent by the snippet)"
        named = (s.named_as or "not named").replace("_", " ")
        lines.append(text.table_row([name, named, f"{s.sends:,}", f"{metric_events(s, metric):,}"]))
    if breakdown.pools_sources:
        lines += ["", "Sends from more than one campaign or step are pooled in the figures above."]
    for other in breakdown.other_events:
        source = text.escape(other.source_id) or "(none)"
        events = "event" if other.total == 1 else "events"
        lines += ["", f"Not attributed: {other.total:,} {events} of the same recipients from {source}."]
    return [*lines, ""]


def _decision(figures: ExperimentFigures) -> list[str]:
    metric = figures.metric
    if figures.winner is not None:
        head = f"**Winner: {text.escape(figures.winner)}**" + (
            " (the control)" if figures.winner == figures.control.variant_id else ""
        )
        status = figures.experiment.status
        head += "." if status == "finished" else f", declared by the learner (the experiment is {status})."
    elif figures.leader is not None:
        leader, p_best = text.escape(figures.leader), text.percent(figures.leader_p_best)
        head = f"Leader: **{leader}**, P(best) {p_best}."
        if figures.experiment.status == "finished":
            head = f"Finished without a winner: the control is served. {head}"
        else:
            head = f"No winner yet. {head}"
    elif figures.experiment.status == "finished":
        head = "Finished without a winner: the control is served."
    else:
        head = "No winner yet, and the learner has not run."
    lines = [head, ""]
    uplift = figures.uplift
    if uplift is not None:
        name = text.escape(uplift.variant_id)
        chosen = next(v for v in figures.variants if v.variant_id == uplift.variant_id)
        lines.append(
            f"- {name}: {text.percent(_rate(chosen, metric))} {metric} rate against the "
            f"control's {text.percent(_rate(figures.control, metric))}."
        )
        lines.append(
            f"- Uplift of {name} over the control: {text.signed_percent(uplift.relative)} in {metric} rate"
            f" (95 % interval {text.interval_text(uplift.ci, text.signed_percent)})."
        )
        lines.append(
            f"- Incremental {metric}s of {name} over the control's rate on its sends: "
            f"{text.count(uplift.incremental_events)} "
            f"(95 % interval {text.interval_text(uplift.incremental_ci, text.count)})."
        )
    lines.append(
        f"- Incremental {metric}s of the whole experiment against sending only the control: "
        f"{text.count(figures.incremental_vs_control)} "
        f"(95 % interval {text.interval_text(figures.incremental_vs_control_ci, text.count)})."
    )
    lines.append(
        f"- Incremental {metric}s against an even split: {text.count(figures.incremental_vs_even)} "
        f"(95 % interval {text.interval_text(figures.incremental_vs_even_ci, text.count)})."
    )
    return lines


def _variant_table(figures: ExperimentFigures) -> list[str]:
    placements = list(figures.experiment.definition.placements)
    is_cta = figures.metric == "cta_click"
    header = [
        "Variant",
        *(p.capitalize() for p in placements),
        "Sends",
        "Delivered",
        "Clicks",
        "Click rate (95 %)",
        *(["CTA clicks", "CTA click rate (95 %)"] if is_cta else []),
        "Opens",
        "Open rate (95 %)",
        "Bot clicks",
        "Machine opens",
        "P(best)",
        "Weight",
    ]
    rows = [text.table_row(header), text.table_row(["---"] * len(header))]
    for v in figures.variants:
        name = (
            text.escape(v.variant_id)
            + (" (control)" if v.is_control else "")
            + (" ★ winner" if v.variant_id == figures.winner else "")
        )
        rows.append(
            text.table_row(
                [
                    name,
                    *(text.escape(v.texts.get(p, "")) for p in placements),
                    f"{v.sends:,}",
                    f"{v.delivered:,}",
                    f"{v.clicks:,}",
                    f"{text.percent(v.click_rate)} ({text.interval_text(v.click_rate_ci, text.percent)})",
                    *(
                        [
                            f"{v.cta_clicks:,}",
                            f"{text.percent(v.cta_click_rate)} "
                            f"({text.interval_text(v.cta_click_rate_ci, text.percent)})",
                        ]
                        if is_cta
                        else []
                    ),
                    f"{v.opens:,}",
                    f"{text.percent(v.open_rate)} ({text.interval_text(v.open_rate_ci, text.percent)})",
                    f"{v.bot_clicks:,}",
                    f"{v.machine_opens:,}",
                    text.percent(v.p_best),
                    text.percent(v.weight),
                ]
            )
        )
    return rows


def _rate(variant: VariantFigures, metric: Metric) -> float:
    return Counts(variant.sends, metric_events(variant, metric)).rate
