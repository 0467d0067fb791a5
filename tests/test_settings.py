"""Settings: the one table parses and validates every variable; where the outage journal lives."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from copyloom.errors import InvalidInput
from copyloom.settings import (
    SETTINGS,
    Settings,
    SettingSpec,
    journal_directory,
    load_settings,
    parse_setting,
)


def test_the_journal_defaults_to_a_folder_next_to_the_sqlite_file() -> None:
    settings = load_settings({"COPYLOOM_DATABASE_URL": "sqlite:////srv/copyloom/copyloom.db"})

    assert journal_directory(settings) == Path("/srv/copyloom/copyloom-journal")


def test_the_journal_of_a_postgresql_store_defaults_to_the_working_directory() -> None:
    settings = load_settings({"COPYLOOM_DATABASE_URL": "postgresql+psycopg://copyloom@db/copyloom"})

    assert journal_directory(settings) == Path("copyloom-journal")


def test_an_explicit_journal_dir_wins() -> None:
    settings = load_settings({"COPYLOOM_JOURNAL_DIR": "/var/lib/copyloom/journal"})

    assert journal_directory(settings) == Path("/var/lib/copyloom/journal")


def test_the_settings_table_and_the_settings_type_name_the_same_fields_and_types() -> None:
    hints = get_type_hints(Settings)

    assert [spec.name for spec in SETTINGS] == [f.name for f in fields(Settings)]
    for spec in SETTINGS:
        assert hints[spec.name] is spec.value_type, spec.name
        assert type(spec.default) is spec.value_type, spec.name


def test_every_default_passes_its_own_validation() -> None:
    settings = load_settings({})

    for spec in SETTINGS:
        assert getattr(settings, spec.name) == spec.default


def test_values_parse_to_the_type_of_their_setting() -> None:
    settings = load_settings(
        {"COPYLOOM_PORT": "8080", "COPYLOOM_LEARN_INTERVAL_S": "2.5", "COPYLOOM_LOG_LEVEL": "DEBUG"}
    )

    assert (settings.port, settings.learn_interval_s, settings.log_level) == (8080, 2.5, "DEBUG")


FLAG = SettingSpec("flag", bool, False, "A switch")


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False)],
)
def test_booleans_parse_as_starlettes_config_does(raw: str, value: bool) -> None:
    assert parse_setting(FLAG, raw) is value
    assert parse_setting(FLAG, None) is False


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (FLAG, "yes", "COPYLOOM_FLAG: expected true, false, 1 or 0, got 'yes'"),
        (FLAG, "", "COPYLOOM_FLAG: expected true, false, 1 or 0, got ''"),
        (SettingSpec("count", int, 1, "A count", minimum=1), "0", "COPYLOOM_COUNT: must be 1 or more"),
        (SettingSpec("count", int, 1, "A count", maximum=9), "10", "COPYLOOM_COUNT: must be 9 or less"),
        (SettingSpec("count", int, 1, "A count"), "1.5", "COPYLOOM_COUNT: expected int, got '1.5'"),
        (
            SettingSpec("share", float, 0.5, "A share", greater_than=0.25),
            "0.25",
            "COPYLOOM_SHARE: must be greater than 0.25",
        ),
    ],
)
def test_a_spec_rejects_values_outside_its_type_and_bounds(spec: SettingSpec, raw: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_setting(spec, raw)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"COPYLOOM_PORT": "0"}, "COPYLOOM_PORT: must be 1 or more"),
        ({"COPYLOOM_PORT": "65536"}, "COPYLOOM_PORT: must be 65535 or less"),
        ({"COPYLOOM_COHORT_WIDTH_S": "0"}, "COPYLOOM_COHORT_WIDTH_S: must be greater than 0"),
        ({"COPYLOOM_COHORT_WIDTH_S": "1.5"}, "COPYLOOM_COHORT_WIDTH_S: expected int, got '1.5'"),
        ({"COPYLOOM_CACHE_REFRESH_S": "nan"}, "COPYLOOM_CACHE_REFRESH_S: expected float, got 'nan'"),
        ({"COPYLOOM_RATE_LIMIT_PER_S": "inf"}, "COPYLOOM_RATE_LIMIT_PER_S: expected float, got 'inf'"),
        (
            {"COPYLOOM_RECENT_ASSIGNMENTS_PER_EXPERIMENT": "-1"},
            "COPYLOOM_RECENT_ASSIGNMENTS_PER_EXPERIMENT: must be 0 or more",
        ),
    ],
)
def test_settings_outside_the_table_are_rejected_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ)
    assert caught.value.message == message
