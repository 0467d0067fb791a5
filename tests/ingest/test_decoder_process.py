"""Decoding in a child process: the same chunks as in process, file after file, and no child left behind."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Generator
from pathlib import Path

import pytest

from copyloom.domain.events import CountedEvent
from copyloom.domain.pseudonyms import pseudonymiser
from copyloom.errors import CorruptFile
from copyloom.ingest.currents_avro import read_currents_file
from copyloom.ingest.currents_schemas import EMAIL_EVENT_KINDS
from copyloom.ingest.currents_writer import record, to_bytes
from copyloom.ingest.decoder_process import DecoderProcess
from tests.currents_samples import Samples
from tests.helpers import children_of

pytestmark = pytest.mark.integration  # every test here runs the decoder's child process

KEY = bytes(range(32))


def in_process(data: bytes, key: str = "k.avro", chunk_events: int = 5000) -> list[list[CountedEvent]]:
    return list(read_currents_file(io.BytesIO(data), key, pseudonymiser(KEY), chunk_events=chunk_events))


def in_child(
    decoder: DecoderProcess, data: bytes, key: str = "k.avro", chunk_events: int = 5000
) -> list[list[CountedEvent]]:
    return list(decoder.read(io.BytesIO(data), key, chunk_events=chunk_events))


def test_every_sample_decodes_as_in_process_with_one_child_for_all(samples: Samples) -> None:
    with DecoderProcess(KEY) as decoder:
        for kind in EMAIL_EVENT_KINDS:
            data = samples.avro(kind)

            assert in_child(decoder, data) == in_process(data)

        assert len(children_of(os.getpid())) == 1


def test_chunks_of_a_large_file_match_in_process_chunk_for_chunk() -> None:
    data = to_bytes("Click", [record("Click", f"u{i}", "d1") for i in range(12_000)], codec="deflate")

    with DecoderProcess(KEY) as decoder:
        chunks = in_child(decoder, data, chunk_events=5000)

    assert [len(c) for c in chunks] == [5000, 5000, 2000]
    assert chunks == in_process(data, chunk_events=5000)


@pytest.mark.parametrize(
    "data",
    [b"not avro at all", b"", to_bytes("Open", [record("Open", f"u{i}", "d1") for i in range(500)])[:-700]],
    ids=["garbage", "empty", "truncated"],
)
def test_a_corrupt_file_gives_the_in_process_reason_and_the_next_file_still_decodes(data: bytes) -> None:
    with pytest.raises(CorruptFile) as expected:
        in_process(data, key="bad.avro")
    good = to_bytes("Click", [record("Click", "u1", "d1")])

    with DecoderProcess(KEY) as decoder:
        with pytest.raises(CorruptFile) as got:
            in_child(decoder, data, key="bad.avro")
        after = in_child(decoder, good)

    assert got.value.message == expected.value.message
    assert after == in_process(good)


class BrokenStream(io.RawIOBase):
    """An S3 body whose connection drops after the first read."""

    def __init__(self, head: bytes) -> None:
        self._head = head
        self._reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._reads += 1
        if self._reads == 1:
            return self._head
        raise ConnectionResetError("connection reset by peer")


def test_a_stream_that_fails_mid_file_is_corrupt_with_the_stream_error_as_reason() -> None:
    data = to_bytes("Click", [record("Click", f"u{i}", "d1") for i in range(20_000)])

    with DecoderProcess(KEY) as decoder, pytest.raises(CorruptFile) as got:
        list(decoder.read(BrokenStream(data[: len(data) // 2]), "k.avro"))  # type: ignore[arg-type]

    assert got.value.message == "ConnectionResetError: connection reset by peer"


def started(decoder: DecoderProcess, data: bytes) -> tuple[Generator[list[CountedEvent], None, None], int]:
    """The file's chunks with the first one read, and the pid of the child decoding it."""
    chunks = decoder.read(io.BytesIO(data), "k.avro", chunk_events=1000)
    next(chunks)
    (child,) = children_of(os.getpid())
    return chunks, child


def test_stopping_mid_file_ends_the_child_and_the_next_file_gets_a_new_one() -> None:
    data = to_bytes("Click", [record("Click", f"u{i}", "d1") for i in range(12_000)])

    with DecoderProcess(KEY) as decoder:
        chunks, first_child = started(decoder, data)
        chunks.close()  # e.g. the transaction counting the file failed

        assert children_of(os.getpid()) == set()
        assert in_child(decoder, data) == in_process(data)
        assert children_of(os.getpid()) != {first_child}

    assert children_of(os.getpid()) == set()


def test_a_child_that_dies_is_an_error_of_ours_not_a_corrupt_file() -> None:
    data = to_bytes("Click", [record("Click", f"u{i}", "d1") for i in range(30_000)])

    with DecoderProcess(KEY) as decoder:
        chunks, child = started(decoder, data)
        os.kill(child, signal.SIGKILL)

        with pytest.raises(RuntimeError, match="decoder process exited"):
            list(chunks)


def test_the_key_never_appears_on_the_child_command_line() -> None:
    with DecoderProcess(KEY) as decoder:
        chunks, child = started(decoder, to_bytes("Click", [record("Click", "u1", "d1")]))
        command_line = Path(f"/proc/{child}/cmdline").read_bytes()
        list(chunks)

    assert KEY.hex().encode() not in command_line
    assert b"copyloom.ingest.decoder_process" in command_line
