"""Guardrails: a variant that hurts the list (unsubscribes, spam complaints, hard bounces) beyond a margin
over the control, with high confidence, is held at the floor whatever its clicks.

Pure: counts in, breaches out; the generator is the only randomness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from copyloom.domain.values import GuardrailMetric, GuardrailRule, VariantId

PRIOR = 0.5
"""Jeffreys' Beta(0.5, 0.5) prior on each rate: weak, and symmetric in events and non-events."""
SAMPLES = 4000


@dataclass(frozen=True, slots=True)
class Tally:
    """A variant's sends and its events of one guarded metric."""

    sends: int
    events: int

    @property
    def rate(self) -> float:
        return self.events / self.sends if self.sends else 0.0


@dataclass(frozen=True, slots=True)
class Breach:
    variant_id: VariantId
    metric: GuardrailMetric
    variant: Tally
    control: Tally
    probability: float
    """P(variant's rate > control's x (1 + margin)) under the Beta posteriors."""


def find_breaches(
    tallies: Mapping[VariantId, Mapping[GuardrailMetric, Tally]],
    control: VariantId,
    rule: GuardrailRule,
    rng: np.random.Generator,
    *,
    variants: Sequence[VariantId] | None = None,
) -> list[Breach]:
    """The (variant, metric) pairs that breach `rule` against the control, in variant then metric order.

    Args:
        tallies: sends and events per variant and guarded metric; the control's must be there.
        control: the control's id (never breaches: it is the reference).
        rule: the guardrail rule.
        rng: the only source of randomness (Monte Carlo over the posteriors).
        variants: the variants to check (default: every one in `tallies`).
    """
    breaches: list[Breach] = []
    reference = tallies.get(control, {})
    for variant_id in variants if variants is not None else list(tallies):
        if variant_id == control:
            continue
        for metric in rule.metrics:
            mine, theirs = tallies.get(variant_id, {}).get(metric), reference.get(metric)
            if mine is None or theirs is None or mine.events < rule.min_events or not theirs.sends:
                continue
            probability = worse_probability(mine, theirs, rule.margin, rng)
            if probability >= rule.confidence:
                breaches.append(Breach(variant_id, metric, mine, theirs, probability))
    return breaches


def worse_probability(variant: Tally, control: Tally, margin: float, rng: np.random.Generator) -> float:
    """P(variant's rate > control's rate x (1 + margin)), each rate ~ Beta(0.5 + events, 0.5 + non-events)."""
    mine = rng.beta(PRIOR + variant.events, PRIOR + variant.sends - variant.events, SAMPLES)
    theirs = rng.beta(PRIOR + control.events, PRIOR + control.sends - control.events, SAMPLES)
    return float(np.mean(mine > theirs * (1.0 + margin)))
