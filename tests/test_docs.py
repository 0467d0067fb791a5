"""Docs that cannot drift: generated references are current, and every command and setting is documented."""

from __future__ import annotations

from pathlib import Path

from copyloom.settings import SETTINGS, env_name
from scripts import cli_docs, settings_docs

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_generated_from_the_current_help() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == cli_docs.render(), "run `make docs`"


def test_settings_reference_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == settings_docs.render(), "run `make docs`"


def test_every_command_has_help() -> None:
    for path, command in cli_docs._commands(cli_docs.main, ["copyloom"]):
        assert command.help, f"{' '.join(path)} has no help text"


def test_every_setting_is_in_the_readme_or_docs() -> None:
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "settings.md").read_text()
    for spec in SETTINGS:
        assert env_name(spec.name) in text


def test_every_http_route_is_in_the_http_api_doc() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text()
    for route in (
        "GET /v1/content/{experiment_id}",
        "POST /v1/content/{experiment_id}",
        "POST /v1/events",
        "GET /v1/pixel/{token}.gif",
        "GET /healthz",
        "GET /metrics",
    ):
        assert route in text
