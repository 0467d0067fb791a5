"""A local Currents folder is read only inside its root, and its keys are escaped in log lines (finding 9)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from copyloom.domain.logsafe import MAX_LOGGED_CHARS, log_safe
from copyloom.errors import SourceUnavailable
from copyloom.ingest.sources import LocalSource


def test_symlinks_leading_outside_the_root_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, outside = tmp_path / "bucket", tmp_path / "outside"
    (root / "events").mkdir(parents=True)
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.avro").write_bytes(b"outside")
    (outside / "folder" / "more.avro").write_bytes(b"outside")
    (root / "events" / "inside.avro").write_bytes(b"inside")
    (root / "events" / "alias.avro").symlink_to(root / "events" / "inside.avro")
    (root / "events" / "file-link.avro").symlink_to(outside / "secret.avro")
    (root / "folder-link").symlink_to(outside / "folder", target_is_directory=True)
    source = LocalSource(root)

    with caplog.at_level(logging.WARNING):
        keys = [obj.key for obj in source.list_objects()]

    assert keys == ["events/alias.avro", "events/inside.avro"]
    assert "events/file-link.avro" in caplog.text
    with pytest.raises(SourceUnavailable, match="leads outside the source folder"):
        source.open("events/file-link.avro").__enter__()
    with pytest.raises(SourceUnavailable, match="leads outside the source folder"):
        source.open("../outside/secret.avro").__enter__()


def test_a_key_with_a_newline_makes_one_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "bucket"
    root.mkdir()
    (tmp_path / "outside.avro").write_bytes(b"outside")
    (root / "a\nFAKE quarantined nothing").symlink_to(tmp_path / "outside.avro")

    with caplog.at_level(logging.WARNING):
        assert list(LocalSource(root).list_objects()) == []

    [record] = caplog.records
    assert "\n" not in record.getMessage()
    assert "a\\nFAKE" in record.getMessage()


def test_log_safe_escapes_controls_and_bounds_the_length() -> None:
    assert log_safe("a\nb\r\x00\x1b[31m") == "a\\nb\\r\\x00\\x1b[31m"
    assert log_safe("\ud800") == "\\ud800"
    assert log_safe("plain/key.avro") == "plain/key.avro"
    assert len(log_safe("x" * 10_000)) < MAX_LOGGED_CHARS + 40
