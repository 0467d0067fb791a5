"""Headless Chromium (Debian's `chromium`) driven by Python Playwright; never `playwright install`.

With CI=true a missing Chromium fails the browser tests; elsewhere they skip and say why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


# Module scope: Playwright's sync API runs an event loop of its own; it stops before other modules run.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = _chromium_path()
    if executable is None:
        problem = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(problem + " (CI=true: the browser tests must run)")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when a browser is there

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
