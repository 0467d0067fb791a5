"""`copyloom export decisions` through the command line (in process), and the inverse-propensity example
of docs/export.md run on a real export, so the doc stays true."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from copyloom.storage.db import Store, open_store
from tests.cli.runner import Cli
from tests.helpers import Workspace, make_workspace
from tests.segment_data import DE_LOYAL, GB_NEW, Planned, insert_planned, segmented_workspace

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"
# In DE_LOYAL, v1 was served with propensity 0.2 (4 clicks in 100) and 0.5 (1 in 100), and 50 times
# before propensities were stored: the self-normalised estimate is (4 x 5 + 1 x 2) / (500 + 200).
PLAN = (
    Planned(GB_NEW, "v1", 20, 5, 0.5),
    Planned(DE_LOYAL, "control", 30, 3, 0.6),
    Planned(DE_LOYAL, "v1", 100, 4, 0.2),
    Planned(DE_LOYAL, "v1", 100, 1, 0.5),
    Planned(DE_LOYAL, "v1", 50, 3, None),
)


@pytest.fixture
def cli_store(cli: Cli, database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def exported(cli_store: Store) -> Workspace:
    workspace = segmented_workspace(cli_store)
    insert_planned(workspace, PLAN)
    return workspace


def test_csv_goes_to_standard_output_with_a_row_per_assignment(cli: Cli, exported: Workspace) -> None:
    text = cli.run("export", "decisions", exported.experiment_id).stdout

    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 300
    assert [(r["segment"], r["variant_id"], r["propensity"]) for r in rows[:1] + rows[-1:]] == [
        (GB_NEW, "v1", "0.5"),
        (DE_LOYAL, "v1", ""),
    ]


def test_parquet_is_written_to_the_output_file(cli: Cli, exported: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "decisions.parquet"

    ran = cli.run("export", "decisions", exported.experiment_id, "--format", "parquet", "--output", str(path))

    assert "wrote 300 decisions" in ran.stderr
    table = pq.read_table(path)
    assert table.num_rows == 300
    assert table.column("propensity").null_count == 50


def test_parquet_without_an_output_file_is_refused(cli: Cli, exported: Workspace) -> None:
    ran = cli.run("export", "decisions", exported.experiment_id, "--format", "parquet", ok=False)

    assert ran.returncode == 1
    assert "error: --output: Parquet is binary" in ran.stderr


def test_an_unknown_or_another_tenants_experiment_is_refused(
    cli: Cli, exported: Workspace, cli_store: Store
) -> None:
    make_workspace(cli_store, "globex")

    unknown = cli.run("export", "decisions", "nope", ok=False)
    other = cli.run("export", "decisions", exported.experiment_id, "--tenant", "globex", ok=False)

    assert (unknown.returncode, other.returncode) == (1, 1)
    assert "error: experiment: no experiment 'nope'" in unknown.stderr
    assert f"error: experiment: no experiment '{exported.experiment_id}'" in other.stderr
    assert other.stdout == ""


def test_the_docs_inverse_propensity_example_runs_on_a_real_export(cli: Cli, exported: Workspace) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert code, "docs/export.md has a Python example"
    export = cli.run("export", "decisions", exported.experiment_id).stdout

    ran = subprocess.run(
        [sys.executable, "-c", code.group(1)], input=export, capture_output=True, text=True, check=True
    )

    rate = (4 * 5 + 1 * 2) / (100 / 0.2 + 100 / 0.5)
    assert ran.stdout == f"estimated click rate of v1 in {DE_LOYAL}: {rate:.4f} (700 weighted sends)\n"
