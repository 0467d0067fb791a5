"""Settings derived at the edge: where the outage journal lives."""

from __future__ import annotations

from pathlib import Path

from copyloom.settings import journal_directory, load_settings


def test_the_journal_defaults_to_a_folder_next_to_the_sqlite_file() -> None:
    settings = load_settings({"COPYLOOM_DATABASE_URL": "sqlite:////srv/copyloom/copyloom.db"})

    assert journal_directory(settings) == Path("/srv/copyloom/copyloom-journal")


def test_the_journal_of_a_postgresql_store_defaults_to_the_working_directory() -> None:
    settings = load_settings({"COPYLOOM_DATABASE_URL": "postgresql+psycopg://copyloom@db/copyloom"})

    assert journal_directory(settings) == Path("copyloom-journal")


def test_an_explicit_journal_dir_wins() -> None:
    settings = load_settings({"COPYLOOM_JOURNAL_DIR": "/var/lib/copyloom/journal"})

    assert journal_directory(settings) == Path("/var/lib/copyloom/journal")
