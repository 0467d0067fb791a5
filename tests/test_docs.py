"""Docs that cannot drift: generated references are current, and every command and setting is documented."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from copyloom.server import build_app
from copyloom.settings import SETTINGS, env_name, load_settings
from copyloom.storage import migrate
from copyloom.storage.db import open_store
from scripts import cli_docs, settings_docs

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_generated_from_the_current_help() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == cli_docs.render(), "run `make docs`"


def test_settings_reference_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == settings_docs.render(), "run `make docs`"


def test_every_command_has_help() -> None:
    for path, command in cli_docs._commands(cli_docs.main, ["copyloom"]):
        assert command.help, f"{' '.join(path)} has no help text"


def test_every_setting_is_in_the_settings_doc_the_readme_links_to() -> None:
    assert "(docs/settings.md)" in (ROOT / "README.md").read_text()
    text = (ROOT / "docs" / "settings.md").read_text()
    for spec in SETTINGS:
        assert env_name(spec.name) in text


def _app_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[str]:
    """`METHOD /path` of every route, mounted ones included (a mount without routes, such as static
    files, as `GET /mount/{path}`); HEAD, which Starlette adds to every GET, is left out."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield f"{method} {prefix}{route.path}"
        elif isinstance(route, Mount):
            if route.routes:
                yield from _app_routes(route.routes, prefix + route.path)
            else:
                yield f"GET {prefix}{route.path}/{{path}}"


def test_every_http_route_of_the_app_is_documented(tmp_path: Path) -> None:
    """API routes as `## METHOD /path` headings in http-api.md, dashboard routes in dashboard.md's table."""
    settings = load_settings({}).replace(database_url=f"sqlite:///{tmp_path / 'docs.db'}")
    store = open_store(settings.database_url)
    try:
        migrate.upgrade(store)
        routes = list(_app_routes(build_app(settings, store, with_learner=False).routes))
    finally:
        store.dispose()
    api = (ROOT / "docs" / "http-api.md").read_text()
    dashboard = (ROOT / "docs" / "dashboard.md").read_text()
    assert "GET /healthz" in routes
    assert "POST /dashboard/experiments/{experiment_id}/{action}" in routes
    for route in routes:
        path = route.split(" ")[1]
        if path == "/" or path.startswith("/dashboard"):  # the root redirects to the dashboard
            assert f"| `{route}` |" in dashboard, f"document {route} in docs/dashboard.md"
        else:
            assert re.search(rf"^## {re.escape(route)}$", api, re.M), f"document {route} in docs/http-api.md"


def test_every_command_the_docs_show_exists() -> None:
    """Each `copyloom …` in a code span or block of the README and docs is a real command."""
    commands = {" ".join(path[1:]) for path, _ in cli_docs._commands(cli_docs.main, ["copyloom"])}
    groups = {name.rsplit(" ", 1)[0] for name in commands if " " in name}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        code = " ".join(re.findall(r"```.*?```|`[^`\n]+`", page.read_text(), flags=re.DOTALL))
        for first, second in re.findall(r"\bcopyloom ([a-z][a-z-]*)(?: ([a-z][a-z-]*)\b(?![:/.]))?", code):
            assert first in commands, f"{page.name}: 'copyloom {first}' is not a command"
            if first in groups and second:
                assert f"{first} {second}" in commands, f"{page.name}: 'copyloom {first} {second}'"


def test_the_readme_is_a_front_door() -> None:
    """Under 15 KB, linking every page of docs/ and the changelog; the dated history lives in docs/."""
    readme = ROOT / "README.md"
    assert readme.stat().st_size < 15 * 1024
    text = readme.read_text()
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"]:
        assert f"({page.relative_to(ROOT)})" in text, f"README does not link {page.name}"
    for word in ("today", "yesterday", "this evening", "another host"):
        assert word not in text.lower(), f"README says {word!r}: dated history goes to docs/benchmarks.md"
