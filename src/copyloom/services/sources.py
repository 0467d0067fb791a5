"""Where an experiment runs: its sends and engagements per Braze campaign or Canvas step, and the events
of the same recipients from campaigns it does not name (counted apart, never attributed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from copyloom.domain.values import Experiment, SourceKind, VariantId
from copyloom.storage.assignments import SourceCount, other_source_counts, source_counts

MAX_SOURCES_SHOWN = 50
"""Sources listed per experiment, most sends first; the rest are summed in `SourceBreakdown.left_off`."""


@dataclass(frozen=True, slots=True)
class SourceVariant:
    """One variant's sends to one campaign or Canvas step and their unique engagements."""

    variant_id: VariantId
    sends: int
    clicks: int
    cta_clicks: int
    opens: int


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """The sends served to one campaign or Canvas step, and what they earned."""

    source_id: str
    """The Braze API id; "" for content calls that named none (a snippet without the `source` parameter)."""
    named_as: SourceKind | None
    """How the definition names it, or None when it does not (then its sends are pooled in the results)."""
    variants: tuple[SourceVariant, ...]

    @property
    def sends(self) -> int:
        return sum(v.sends for v in self.variants)

    @property
    def clicks(self) -> int:
        return sum(v.clicks for v in self.variants)

    @property
    def cta_clicks(self) -> int:
        return sum(v.cta_clicks for v in self.variants)

    @property
    def opens(self) -> int:
        return sum(v.opens for v in self.variants)


@dataclass(frozen=True, slots=True)
class OtherSource:
    """Events from a campaign or Canvas step the experiment does not name, by engagement kind."""

    source_id: str
    events: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.events.values())


@dataclass(frozen=True, slots=True)
class SourceBreakdown:
    sources: tuple[SourceFigures, ...]
    """Every named source (sends or not), then the others that had sends, most sends first."""
    other_events: tuple[OtherSource, ...]
    left_off: int = 0
    """Sources with sends not listed (over `MAX_SOURCES_SHOWN`)."""

    @property
    def pools_sources(self) -> bool:
        """Sends went to more than one campaign or Canvas step that the definition does not tell apart:
        their results are pooled (the docs warn about pasting one snippet into two campaigns)."""
        unnamed = [s for s in self.sources if s.named_as is None and s.sends]
        return len(unnamed) > 1 or (bool(unnamed) and any(s.named_as and s.sends for s in self.sources))

    def as_json(self) -> dict[str, Any]:
        """The breakdown as `experiment show --json` prints it."""
        return {
            "sources": [
                {
                    "source_id": s.source_id,
                    "named_as": s.named_as,
                    "sends": s.sends,
                    "clicks": s.clicks,
                    "cta_clicks": s.cta_clicks,
                    "opens": s.opens,
                    "variants": [
                        {
                            "variant_id": v.variant_id,
                            "sends": v.sends,
                            "clicks": v.clicks,
                            "cta_clicks": v.cta_clicks,
                            "opens": v.opens,
                        }
                        for v in s.variants
                    ],
                }
                for s in self.sources
            ],
            "sources_left_off": self.left_off,
            "pools_sources": self.pools_sources,
            "other_source_events": [
                {"source_id": o.source_id, "events": dict(o.events)} for o in self.other_events
            ],
        }


def source_breakdown(
    experiment: Experiment, counts: Sequence[SourceCount], other: Mapping[tuple[str, str], int]
) -> SourceBreakdown:
    """The per-source figures of an experiment from its counts (pure)."""
    named = experiment.definition.sources
    by_source: dict[str, dict[VariantId, SourceVariant]] = {source_id: {} for source_id in named}
    for count in counts:
        by_source.setdefault(count.source_id, {})[count.variant_id] = SourceVariant(
            count.variant_id,
            count.sends,
            count.engagements.get("click", 0),
            count.engagements.get("cta_click", 0),
            count.engagements.get("open", 0),
        )
    figures = [
        SourceFigures(
            source_id,
            named.get(source_id),
            tuple(variants.get(v) or SourceVariant(v, 0, 0, 0, 0) for v in experiment.variant_ids),
        )
        for source_id, variants in by_source.items()
    ]
    figures.sort(key=lambda s: (s.named_as is None, -s.sends, s.source_id))
    shown = [s for s in figures if s.named_as is not None or s.sends][: max(MAX_SOURCES_SHOWN, len(named))]
    events: dict[str, dict[str, int]] = {}
    for (source_id, kind), n in sorted(other.items()):
        events.setdefault(source_id, {})[kind] = n
    others = sorted((OtherSource(s, e) for s, e in events.items()), key=lambda o: (-o.total, o.source_id))
    left_off = sum(1 for s in figures if s.sends) - sum(1 for s in shown if s.sends)
    return SourceBreakdown(tuple(shown), tuple(others[:MAX_SOURCES_SHOWN]), left_off)


def load_source_breakdown(conn: Connection, experiment: Experiment) -> SourceBreakdown:
    return source_breakdown(
        experiment,
        source_counts(conn, experiment.experiment_id),
        other_source_counts(conn, experiment.experiment_id),
    )
