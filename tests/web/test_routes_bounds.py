"""The content endpoint's rendered bodies stay within their bound however many wordings it serves."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from copyloom.domain.values import Experiment, ExperimentId, TenantId
from copyloom.services.serving import Served, ServingRuntime
from copyloom.web.limits import RateLimiter
from copyloom.web.routes import MAX_RENDERED_BODIES, Endpoints
from tests.helpers import make_definition


def test_rendered_bodies_stay_within_their_bound_and_answer_right_after_a_clear() -> None:
    endpoints = Endpoints(
        cast(ServingRuntime, None),  # `_content_response` renders only: it never reaches the runtime
        "https://cl.example.test",
        max_body_bytes=1_000,
        max_events_per_post=10,
        limiter=RateLimiter(1.0, 1),
        event_limiter=RateLimiter(1.0, 1),
        event_slots=asyncio.Semaphore(1),
        budget_s=0.5,
    )
    definition = make_definition()
    sizes = []
    for i in range(MAX_RENDERED_BODIES + 2_000):
        experiment = Experiment(ExperimentId(f"ex_{i}"), TenantId("tn_1"), definition, "live", None, 0.0)
        answer = endpoints._content_response(Served(experiment, definition.variants[1], f"tok{i}"))
        sizes.append(len(endpoints._bodies))

    assert max(sizes) == MAX_RENDERED_BODIES
    assert json.loads(answer.body) == {
        "experiment_id": f"ex_{MAX_RENDERED_BODIES + 1_999}",
        "variant_id": "v1",
        **definition.variants[1].texts,
        "pixel_url": f"https://cl.example.test/v1/pixel/tok{MAX_RENDERED_BODIES + 1_999}.gif",
    }
