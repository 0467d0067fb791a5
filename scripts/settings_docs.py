"""Generate docs/settings.md from the settings table (run by `make docs`; checked by tests/test_docs.py)."""

from __future__ import annotations

import sys

from copyloom.settings import SETTINGS, env_name


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Generated from `copyloom/settings.py` by `make docs`. Each setting is an environment variable; "
        "`copyloom settings` prints the values in force (secrets as `**********`).",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for spec in SETTINGS:
        lines.append(f"| `{env_name(spec.name)}` | `{spec.default}` | {spec.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
