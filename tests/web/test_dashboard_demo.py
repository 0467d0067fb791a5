"""`copyloom demo --serve`, run for real: the dashboard shows the demo's experiment until Ctrl-C."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.dashboard_data import sign_in

IGNORING_SIGINT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "from copyloom.cli import main; sys.argv[0] = 'copyloom'; main()"
)
"""`copyloom …` in a process that ignores SIGINT until the command itself says otherwise."""


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def _wait_for(lines: queue.Queue[str], pattern: str, timeout_s: float) -> tuple[re.Match[str], str]:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen += line
        match = re.search(pattern, seen)
        if match:
            return match, seen
    pytest.fail(f"no line matching {pattern!r} within {timeout_s} s; output so far:\n{seen}")


@pytest.mark.slow
@pytest.mark.integration
def test_demo_serve_keeps_the_dashboard_up_until_ctrl_c() -> None:
    # Started with SIGINT ignored, as a shell script's background job is (and as a test runner's child can
    # be): the demo must stop on SIGINT all the same.
    demo = subprocess.Popen(
        [
            sys.executable,
            "-c",
            IGNORING_SIGINT,
            "demo",
            "--serve",
            "--recipients",
            "600",
            "--duration-s",
            "6",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True)
    reader.start()
    try:
        found, _ = _wait_for(
            lines,
            r"dashboard: (http://127\.0\.0\.1:\d+)/dashboard/experiments/(ex_\w+)\s+"
            r"sign in as tenant demo-brand with password (\S+)",
            timeout_s=180,
        )
        url, experiment_id, password = found.groups()
        time.sleep(1)
        assert demo.poll() is None, "the demo exited instead of serving"
        with httpx.Client(base_url=url, timeout=30) as client:
            session = sign_in(client, "demo-brand", password)
            listing = session.get("/dashboard/")
            page = session.get(f"/dashboard/experiments/{experiment_id}")
        assert "Winter sale subject line" in listing.text
        assert page.status_code == 200
        assert 'data-variant="benefit"' in page.text

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        _wait_for(lines, r"stopping the demo server", timeout_s=5)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        reader.join(timeout=10)
        assert demo.stdout is not None
        demo.stdout.close()
