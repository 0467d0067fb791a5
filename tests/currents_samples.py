"""One Currents event per email event type: generated here, and Braze's own samples as an extra check.

The `samples` fixture runs a test once on the generated set and once on Braze's sample files, which are
Braze's and never in the repository: they are read from the folder named by `COPYLOOM_BRAZE_SAMPLES`
(Braze's sample data from github.com/Appboy/currents-examples, laid out as
`users.messages.email.<Event>.avro` files beside `custom_http/<Event>.json`, optionally with
`schemas/users.messages.email.<Event>.avsc`). Unset, those runs skip with the reason; with CI=true they
fail instead, so CI always runs them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from copyloom.ingest import currents_writer as cw
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS, event_type_of

ENVIRONMENT_VARIABLE = "COPYLOOM_BRAZE_SAMPLES"


@dataclass(frozen=True)
class Samples:
    """One event of each email event type, as an Avro file and a Custom HTTP event, and what it holds.

    Every event of a set carries the same ids and personal values, as in Braze's sample set (so the
    whole set counts one event and ten duplicates of its id).
    """

    name: str
    avro_files: dict[str, bytes]
    http_bodies: dict[str, str]
    schema_files: dict[str, str]
    """Standalone `.avsc` schemas by event type (Braze publishes none; a copy may have them extracted)."""
    event_id: str
    time_s: int
    user_id: str
    dispatch_id: str
    campaign_id: str
    canvas_step_id: str
    email_address: str
    user_agent: str

    def avro(self, kind: str) -> bytes:
        return self.avro_files[kind]

    def http_event(self, kind: str) -> dict[str, Any]:
        """A fresh copy of the event, for the caller to change."""
        return dict(json.loads(self.http_bodies[kind]))


def generate_samples() -> Samples:
    """Every field of every type set by `full_record`, one shared id, different user and dispatch ids."""
    event_id, user_id, dispatch_id = (
        "0b7d52e4-6f1a-4c3e-9d2b-5a8e1f0c7d36",
        "7c2f9e1ab04d3e5f6a7b8c9d",
        "d-42",
    )
    records = {kind: cw.full_record(kind, user_id, dispatch_id, id=event_id) for kind in EMAIL_EVENT_KINDS}
    first = records["Click"]
    return Samples(
        name="generated",
        avro_files={kind: cw.to_bytes(kind, [values]) for kind, values in records.items()},
        http_bodies={
            kind: json.dumps(cw.http_event(kind, values, device_id="device_id-value"))
            for kind, values in records.items()
        },
        schema_files={},
        event_id=event_id,
        time_s=cw.DEFAULT_TIME_S,
        user_id=user_id,
        dispatch_id=dispatch_id,
        campaign_id=first["campaign_id"],
        canvas_step_id=first["canvas_step_id"],
        email_address=first["email_address"],
        user_agent=first["user_agent"],
    )


def braze_folder() -> Path:
    """The folder of Braze's samples; skips the test (fails it under CI=true) when there is none."""
    raw = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if not raw:
        problem = (
            f"{ENVIRONMENT_VARIABLE} is not set: no folder of Braze's own sample files to check against "
            "(see docs/ingestion.md)"
        )
    elif not Path(raw).is_dir():
        problem = (
            f"{ENVIRONMENT_VARIABLE}={raw} is not a folder: the check against Braze's samples cannot run"
        )
    else:
        return Path(raw)
    if os.environ.get("CI") == "true":
        pytest.fail(problem + " (CI=true: the Braze sample tests must run)")
    pytest.skip(problem)


def read_braze_samples(folder: Path) -> Samples:
    """Braze's samples as they are in the folder (every value below is what Braze's files hold)."""
    return Samples(
        name="braze",
        avro_files={
            kind: path.read_bytes()
            for kind in EMAIL_EVENT_KINDS
            if (path := folder / f"{event_type_of(kind)}.avro").is_file()
        },
        http_bodies={
            kind: path.read_text()
            for kind in EMAIL_EVENT_KINDS
            if (path := folder / "custom_http" / f"{kind}.json").is_file()
        },
        schema_files={
            kind: path.read_text()
            for kind in EMAIL_EVENT_KINDS
            if (path := folder / "schemas" / f"{event_type_of(kind)}.avsc").is_file()
        },
        event_id="f47ac10b-58cc-4372-a567-0e02b2c3d479",
        time_s=2033802504,
        user_id="639a35d192b0df004d06514c",
        dispatch_id="639a35d192b0df004d06514c",  # Braze's samples reuse the user id as the dispatch id
        campaign_id="f47ac10b-58cc-4372-a567-0e02b2c3d479",  # and the event id as every other id
        canvas_step_id="f47ac10b-58cc-4372-a567-0e02b2c3d479",
        email_address="example@braze.com",
        user_agent="Mozilla/5.0",
    )


# The fixtures have names of their own so that a module importing them (to use them outside a conftest)
# does not shadow them with its test functions' parameters.
@pytest.fixture(scope="session", name="braze_samples")
def braze_samples_fixture() -> Samples:
    """Braze's own samples from `COPYLOOM_BRAZE_SAMPLES` (skips, or fails under CI=true, without them)."""
    return read_braze_samples(braze_folder())


@pytest.fixture(scope="session", name="generated_samples")
def generated_samples_fixture() -> Samples:
    return generate_samples()


@pytest.fixture(params=["generated", "braze"], name="samples")
def samples_fixture(request: pytest.FixtureRequest) -> Samples:
    """The generated samples, then Braze's own (see `braze_samples`)."""
    chosen: Samples = request.getfixturevalue(f"{request.param}_samples")
    return chosen
