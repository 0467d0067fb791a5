"""`copyloom experiment show` of a segmented experiment: a short table by segment, and `segments` in
`--json`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from copyloom.storage.db import Store, open_store
from tests.cli.runner import Cli
from tests.helpers import make_workspace
from tests.segment_data import DE_LOYAL, GB_NEW, filled_segments


@pytest.fixture
def cli_store(cli: Cli, database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    yield store
    store.dispose()


def test_show_prints_a_row_per_segment_and_the_incremental_clicks(cli: Cli, cli_store: Store) -> None:
    workspace = filled_segments(cli_store)

    lines = cli.run("experiment", "show", workspace.experiment_id).stdout.splitlines()

    start = next(i for i, line in enumerate(lines) if line.startswith("segment "))
    gb, de, note = lines[start + 1 : start + 4]
    assert gb.split() == [GB_NEW, "1000", "v1", "v1"]
    assert de.split() == [DE_LOYAL, "600", "control*", "-", "+3.00", "pp,", "+18", "clicks"]
    assert note.startswith("* leads instead of the overall leader v1; incremental clicks from choosing per")
    assert "+18 (95 % interval" in note


def test_show_json_has_segments_and_null_without_context(cli: Cli, cli_store: Store) -> None:
    segmented = filled_segments(cli_store)
    plain = make_workspace(cli_store, "globex")

    shown = cli.json("experiment", "show", segmented.experiment_id)

    assert [s["segment"] for s in shown["segments"]["segments"]] == [GB_NEW, DE_LOYAL]
    assert shown["segments"]["incremental"] == 18.0
    assert cli.json("experiment", "show", plain.experiment_id)["segments"] is None
