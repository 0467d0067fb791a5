"""The Currents samples: generated, and Braze's own when `COPYLOOM_BRAZE_SAMPLES` names them."""

from tests.currents_samples import braze_samples_fixture, generated_samples_fixture, samples_fixture  # noqa: F401 - fixtures
