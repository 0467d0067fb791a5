"""`copyloom …` run in this process through click's runner, as the CLI tests (and the rejected-input
list) drive it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from copyloom.cli import main


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it printed on each stream."""

    returncode: int
    stdout: str
    stderr: str


class Cli:
    """`copyloom …` in this process, with the given store and otherwise this process's environment."""

    def __init__(self, database_url: str, **environ: str) -> None:
        self.env = {"COPYLOOM_DATABASE_URL": database_url, "COPYLOOM_LOG_LEVEL": "WARNING", **environ}

    def run(self, *args: str, ok: bool = True) -> Ran:
        result = CliRunner(env=self.env).invoke(main, list(args), prog_name="copyloom")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback is a bug whatever the test expects
        if ok:
            assert result.exit_code == 0, result.stderr
        return Ran(result.exit_code, result.stdout, result.stderr)

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)
