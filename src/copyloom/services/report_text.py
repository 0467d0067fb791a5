"""How the reports write numbers, intervals, times and text (pure): shared by every report format."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from copyloom.services.report_stats import Interval

_MARKUP = re.compile(r"[\\`*_\[\]<>|~]")


def table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def escape(text: str) -> str:
    """Text shown as written: Markdown and HTML characters escaped, line breaks made spaces (a table
    row is one line)."""
    return _MARKUP.sub(r"\\\g<0>", text).replace("\r", " ").replace("\n", " ")


def interval_text(interval: Interval | None, show: Any) -> str:
    if interval is None:
        return "n/a"
    return f"{show(interval.low)} to {show(interval.high)}"


def percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.1f} %"


def signed_percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value * 100:+.1f} %"


def count(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+,.0f}"


def time_text(at: float | None) -> str:
    return "never" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def flag(value: bool) -> str:
    return "true" if value else "false"


def cell(value: object) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return "" if value is None else str(value)


def number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


def interval_json(interval: Interval | None) -> dict[str, float | None] | None:
    return None if interval is None else {"low": number(interval.low), "high": number(interval.high)}
