"""One rule for outside strings in log lines: object keys, paths, methods and ids a client or a bucket
chose are escaped, so none can start a new log line or forge one."""

from __future__ import annotations

# Longest outside string a log line prints; the rest is summarised by its length.
MAX_LOGGED_CHARS = 200


def log_safe(text: str) -> str:
    """`text` with every control, non-ASCII and backslash character escaped as in a Python literal
    (a newline becomes the two characters `\\n`), cut to `MAX_LOGGED_CHARS`."""
    escaped = text.encode("unicode_escape").decode("ascii")
    if len(escaped) <= MAX_LOGGED_CHARS:
        return escaped
    return f"{escaped[:MAX_LOGGED_CHARS]}...({len(text)} characters)"
