"""The decisions export: one row per assignment with the probability its variant was chosen with, for
offline policy evaluation (docs/export.md). Read and written a chunk at a time, so memory stays bounded
for millions of assignments."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Literal, get_args

from copyloom.domain.values import TenantId
from copyloom.errors import NotFound
from copyloom.storage import experiments as repo
from copyloom.storage.db import Store
from copyloom.storage.decisions import DecisionRow, decision_rows

DecisionFormat = Literal["csv", "parquet"]
DECISION_FORMATS: tuple[DecisionFormat, ...] = get_args(DecisionFormat)
COLUMNS = (
    "recipient_key",
    "dispatch_id",
    "segment",
    "variant_id",
    "propensity",
    "sent_at",
    "sent_at_s",
    "clicked",
    "opened",
    "bot_click",
    "machine_open",
    "source_id",
)
"""The export's columns, in order (docs/export.md says what each holds)."""
CHUNK_ROWS = 10_000
"""Assignments read per query, and per Parquet row group."""


def decision_chunks(
    store: Store, experiment_id: str, *, tenant_id: TenantId | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[DecisionRow]]:
    """An experiment's assignments in assignment order, `chunk_rows` at a time, each chunk read in its own
    short transaction (a long export never holds one open).

    Raises:
        NotFound: no such experiment, or it belongs to another tenant (raised before the first chunk).
    """
    with store.read() as conn:
        experiment = repo.load_experiment(conn, experiment_id)
    if experiment is None or (tenant_id is not None and experiment.tenant_id != tenant_id):
        raise NotFound(f"experiment: no experiment '{experiment_id}'")
    return _chunks(store, experiment.experiment_id, chunk_rows)


def _chunks(store: Store, experiment_id: str, chunk_rows: int) -> Iterator[list[DecisionRow]]:
    after_id = 0
    while True:
        with store.read() as conn:
            rows = decision_rows(conn, experiment_id, after_id=after_id, limit=chunk_rows)
        if not rows:
            return
        yield rows
        after_id = rows[-1].assignment_id


def write_csv(chunks: Iterator[list[DecisionRow]], out: IO[str]) -> int:
    """Write the rows as CSV (a header, then a row per assignment) as they are read; returns the count.
    An unknown propensity is an empty cell; flags are `true` / `false`."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    for chunk in chunks:
        writer.writerows(_csv_cells(row) for row in chunk)
        written += len(chunk)
    return written


def csv_pieces(chunks: Iterator[list[DecisionRow]]) -> Iterator[str]:
    """The CSV of `write_csv` as text pieces, the header then one piece per chunk: for streaming."""
    yield _csv_text([list(COLUMNS)])
    for chunk in chunks:
        yield _csv_text(_csv_cells(row) for row in chunk)


def _csv_text(rows: Iterable[list[str]]) -> str:
    piece = io.StringIO()
    csv.writer(piece, lineterminator="\n").writerows(rows)
    return piece.getvalue()


def write_parquet(chunks: Iterator[list[DecisionRow]], out: IO[bytes] | str) -> int:
    """Write the rows as Parquet, one row group per chunk; returns the count. `propensity` is null when
    unknown; `sent_at` a UTC timestamp (microseconds); flags are booleans."""
    # Imported here: pyarrow takes a while to import, and only this export needs it.
    import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415 - pyarrow ships no type hints
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415 - nor does its parquet module

    schema = pa.schema(
        [
            ("recipient_key", pa.string()),
            ("dispatch_id", pa.string()),
            ("segment", pa.string()),
            ("variant_id", pa.string()),
            ("propensity", pa.float64()),
            ("sent_at", pa.timestamp("us", tz="UTC")),
            ("sent_at_s", pa.float64()),
            ("clicked", pa.bool_()),
            ("opened", pa.bool_()),
            ("bot_click", pa.bool_()),
            ("machine_open", pa.bool_()),
            ("source_id", pa.string()),
        ]
    )
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in chunks:
            columns = _columns(chunk)
            columns["sent_at"] = [round(s * 1_000_000) for s in columns["sent_at_s"]]
            writer.write_table(pa.table(columns, schema=schema))
            written += len(chunk)
    return written


def parquet_file(chunks: Iterator[list[DecisionRow]]) -> str:
    """Write the rows as Parquet to a new temporary file and return its path (the caller removes it):
    a Parquet file's footer comes last, so an HTTP answer sends the file once it is whole."""
    with tempfile.NamedTemporaryFile(suffix=".parquet", delete=False) as out:
        path = out.name
    try:
        write_parquet(chunks, path)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _values(row: DecisionRow) -> dict[str, Any]:
    return {
        "recipient_key": row.recipient_key,
        "dispatch_id": row.dispatch_id,
        "segment": row.segment,
        "variant_id": row.variant_id,
        "propensity": row.propensity,
        "sent_at": _iso(row.assigned_at),
        "sent_at_s": row.assigned_at,
        "clicked": row.clicked,
        "opened": row.opened,
        "bot_click": row.bot_click,
        "machine_open": row.machine_open,
        "source_id": row.source_id,
    }


def _csv_cells(row: DecisionRow) -> list[str]:
    return [_cell(value) for value in _values(row).values()]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _columns(chunk: list[DecisionRow]) -> dict[str, list[Any]]:
    values = [_values(row) for row in chunk]
    return {name: [v[name] for v in values] for name in COLUMNS}


def _iso(at: float) -> str:
    """ISO 8601 in UTC to the microsecond, e.g. 2025-11-28T14:00:00.250000Z."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
