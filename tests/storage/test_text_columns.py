"""The store's text columns hold exactly the lengths the edge lets through (`domain/text.py`), so a
value that passed validation is never refused for its length on PostgreSQL, and SQLite (which does not
enforce `VARCHAR(n)`) never keeps more than documented."""

from __future__ import annotations

import re

import sqlalchemy as sa

from copyloom.domain.text import TEXT_LIMITS
from copyloom.storage.events import STAGED_COLUMNS
from copyloom.storage.tables import assignments, experiments, seen_events, tenants, unattributed

COLUMN_OF_FIELD: dict[str, tuple[sa.Column[str], ...]] = {
    "dispatch": (assignments.c.dispatch_id,),
    "id": (seen_events.c.event_id,),
    "campaign_id": (unattributed.c.source_id,),
    "canvas_step_id": (unattributed.c.source_id,),
    "tenant": (tenants.c.name,),
    "experiment_name": (experiments.c.name,),
}


def test_table_columns_are_as_long_as_the_documented_limits() -> None:
    lengths = {
        field: {getattr(column.type, "length", None) for column in columns}
        for field, columns in COLUMN_OF_FIELD.items()
    }
    assert lengths == {field: {TEXT_LIMITS[field]} for field in COLUMN_OF_FIELD}


def test_the_staging_table_holds_the_documented_lengths() -> None:
    staged = dict(re.findall(r"(\w+) VARCHAR\((\d+)\)", STAGED_COLUMNS))
    assert int(staged["event_id"]) == TEXT_LIMITS["id"]
    assert int(staged["dispatch_id"]) == TEXT_LIMITS["dispatch_id"]
    assert int(staged["source_id"]) == max(TEXT_LIMITS["campaign_id"], TEXT_LIMITS["canvas_step_id"])
