"""The package's rooms stay small enough to read: no module over 450 lines (STYLE.md, rule 2)."""

from __future__ import annotations

from pathlib import Path

import copyloom

MAX_MODULE_LINES = 450
PACKAGE = Path(copyloom.__file__).parent


def test_no_module_is_over_450_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }

    assert len(sizes) > 50, "the package's modules were found"
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
