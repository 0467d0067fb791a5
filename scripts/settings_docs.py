"""Generate docs/settings.md from the settings table (run by `make docs`; checked by tests/test_docs.py)."""

from __future__ import annotations

import sys

from copyloom.settings import SETTINGS, SettingSpec, env_name


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Generated from `copyloom/settings.py` by `make docs`. Each setting is an environment variable; "
        "`copyloom settings` prints the values in force (secrets as `**********`).",
        "",
        "Minimum and maximum are inclusive; `> 0` means greater than 0.",
        "",
        "| variable | type | default | minimum | maximum | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        lines.append(
            f"| `{env_name(spec.name)}` | {spec.value_type.__name__} | `{spec.default}` | {_minimum(spec)} "
            f"| {_bound(spec.maximum)} | {_meaning(spec)} |"
        )
    return "\n".join(lines) + "\n"


def _meaning(spec: SettingSpec) -> str:
    if not spec.prefixes:
        return spec.help
    return f"{spec.help} (starts with {' or '.join(f'`{p}`' for p in spec.prefixes)})"


def _minimum(spec: SettingSpec) -> str:
    if spec.greater_than is not None:
        return f"> {_bound(spec.greater_than)}"
    return _bound(spec.minimum)


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


if __name__ == "__main__":
    sys.stdout.write(render())
