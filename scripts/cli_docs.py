"""Generate docs/cli.md from the commands' own --help (run by `make docs`; checked by tests/test_docs.py)."""

from __future__ import annotations

import sys

import click

from copyloom.cli import main

HEADER = """# Command line reference

Generated from `copyloom --help` by `make docs`; `tests/test_docs.py` fails when this file is stale.
Every command reads its settings from `COPYLOOM_*` environment variables (see `copyloom settings` and
[settings.md](settings.md)); commands other than `init`, `settings` and `demo` need a database that
`copyloom init` has prepared.
"""


def _commands(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _commands(command.commands[name], [*path, name])
    return found


def render() -> str:
    parts = [HEADER]
    for path, command in _commands(main, ["copyloom"]):
        with click.Context(command, info_name=" ".join(path)) as ctx:
            help_text = command.get_help(ctx)
        parts.append(f"## `{' '.join(path)}`\n\n```\n{help_text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
