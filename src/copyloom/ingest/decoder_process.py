"""Decoding Currents files on a second core: a child process reads Avro while the ingester writes.

Decoding (fastavro, the keyed hash of each recipient) and counting (the store's statements) each take
about half of an ingest. In one process they take turns, since the decoder holds the GIL; here a child
process decodes while the parent counts the previous chunk, as a filter between two pipes:

    parent ──(per file: a header, the file's bytes in frames, an empty frame)──▶ child
    child ──(per file: pickled chunks of events, then "done" or "corrupt")──▶ parent

One child serves every file of an ingest run, so it starts (imports fastavro) once. The parent copies
each object's stream (a local file or an S3 body) into the child's stdin from a thread (IO, which
releases the GIL) and reads the chunks back one at a time, so memory stays flat: the pipes are bounded,
and the child blocks while the parent is behind. The child gets the tenant's pseudonymisation key through
its stdin, never its command line, and sends back only `CountedEvent`s: ids already keyed, no personal
data. If the parent dies (even by SIGKILL), the child's stdin ends and its next write fails on the broken
pipe, so it exits; if the parent stops reading a file early (a corrupt file, a failed transaction), it
kills the child, and the next file gets a new one.

The chunks are the same as `read_currents_file` gives in process, and so is the reason a corrupt file
gives.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Generator
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import IO, BinaryIO, cast

from copyloom.domain.events import CountedEvent
from copyloom.domain.pseudonyms import pseudonymiser
from copyloom.errors import CorruptFile
from copyloom.ingest.currents_avro import read_currents_file, unreadable_reason
from copyloom.ingest.fields import Pseudonymise

_FRAME = struct.Struct(">I")
_PIECE_BYTES = 1 << 20
_PIPE_BYTES = 1 << 20

_EVENTS, _CORRUPT, _DONE = "events", "corrupt", "done"


@dataclass(frozen=True, slots=True)
class _Child:
    process: subprocess.Popen[bytes]
    stdin: IO[bytes]
    stdout: IO[bytes]

    def close_pipes(self) -> None:
        for pipe in (self.stdin, self.stdout):
            with suppress(BrokenPipeError):
                pipe.close()


class DecoderProcess:
    """A child process that decodes Currents files for one tenant, one file after another.

    Use as a context manager; `read` is `read_currents_file` with the tenant's pseudonymiser.
    """

    def __init__(self, pseudonym_key: bytes) -> None:
        self._pseudonym_key = pseudonym_key
        self._child: _Child | None = None

    def __enter__(self) -> DecoderProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the child: it exits when its stdin ends, or is killed if it does not within 5 s."""
        child, self._child = self._child, None
        if child is None:
            return
        with suppress(BrokenPipeError):
            child.stdin.close()
        try:
            child.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        child.close_pipes()

    def read(
        self, stream: BinaryIO, key: str, *, chunk_events: int = 5000
    ) -> Generator[list[CountedEvent], None, None]:
        """Yield the file's events in chunks of at most `chunk_events`, as `read_currents_file` does.

        Raises:
            CorruptFile: as `read_currents_file`, also when reading `stream` itself fails.
            RuntimeError: the child died mid-file (not the file's fault, so not a quarantine).
        """
        child = self._running()
        header = json.dumps({"key": key, "chunk_events": chunk_events}).encode()
        feeder = _Feeder(stream, child.stdin, header)
        feeder.start()
        finished = False
        try:
            while True:
                try:
                    tag, payload = pickle.load(child.stdout)  # noqa: S301 - our own child's private pipe
                except EOFError:
                    status = child.process.wait()
                    raise RuntimeError(f"decoder process exited with status {status}") from None
                if tag == _EVENTS:
                    yield [CountedEvent._make(row) for row in payload]
                elif tag == _CORRUPT:
                    raise CorruptFile(feeder.failure or payload)
                else:
                    finished = True
                    return
        finally:
            if not finished:  # mid-file: the child's place in its input is unknown, so it goes
                self._kill()
            feeder.join()

    def _running(self) -> _Child:
        if self._child is None:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, no outside input
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            if process.stdin is None or process.stdout is None:  # pragma: no cover - PIPE gives both
                raise RuntimeError("decoder process started without pipes")
            child = _Child(process, process.stdin, process.stdout)
            _widen(child.stdout)
            child.stdin.write(_frame(self._pseudonym_key.hex().encode()))
            self._child = child
        return self._child

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.process.kill()
            child.process.wait()
            child.close_pipes()


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(len(payload)) + payload


def _widen(pipe: IO[bytes]) -> None:
    """Let the pipe hold a whole chunk or more (Linux: 64 KiB by default, a pickled chunk ~0.5 MB), so the
    child can finish writing one chunk and decode the next while the parent counts."""
    # Not on Linux, or under a lower /proc/sys/fs/pipe-max-size, the pipe stays smaller, which is fine.
    with suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


class _Feeder(threading.Thread):
    """Copies one file into the child's stdin: its header frame, its bytes in frames, an empty frame.

    Remembers why reading the stream failed; the file then ends early, and the child finds it truncated.
    """

    def __init__(self, stream: BinaryIO, stdin: IO[bytes], header: bytes) -> None:
        super().__init__(name="decoder-feeder", daemon=True)
        self._stream = stream
        self._stdin = stdin
        self._header = header
        self.failure: str | None = None

    def run(self) -> None:
        try:
            self._stdin.write(_frame(self._header))
            while True:
                try:
                    piece = self._stream.read(_PIECE_BYTES)
                except Exception as exc:  # a broken S3 body: the file is unreadable, as in process
                    self.failure = unreadable_reason(exc)
                    piece = b""
                self._stdin.write(_frame(piece))
                if not piece:
                    self._stdin.flush()
                    return
        except (BrokenPipeError, ValueError):  # the child was killed (or its pipe closed) mid-file
            return


class _FramedReader:
    """One file's bytes out of the child's framed stdin, ending at the empty frame."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._buffer = memoryview(b"")
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else sys.maxsize
        while wanted > 0 and not self._ended:
            if not self._buffer:
                frame = _read_frame(self._source)
                if not frame:
                    self._ended = True
                    break
                self._buffer = memoryview(frame)
            part = self._buffer[:wanted]
            self._buffer = self._buffer[len(part) :]
            parts.append(bytes(part))
            wanted -= len(part)
        return b"".join(parts)

    def drain(self) -> None:
        while not self._ended:
            self._buffer = memoryview(b"")
            self.read(_PIECE_BYTES)


def _read_frame(source: BinaryIO) -> bytes:
    head = source.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    (length,) = _FRAME.unpack(head)
    payload = source.read(length)
    if len(payload) < length:
        raise EOFError
    return payload


def _child_main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    try:
        pseudonymise_id = pseudonymiser(bytes.fromhex(_read_frame(source).decode()))
        while True:
            header = json.loads(_read_frame(source))
            _decode_one(_FramedReader(source), header["key"], header["chunk_events"], pseudonymise_id, sink)
    except (EOFError, BrokenPipeError):  # the parent closed our stdin (done) or is gone
        os._exit(0)


def _decode_one(
    reader: _FramedReader, key: str, chunk_events: int, pseudonymise_id: Pseudonymise, sink: BinaryIO
) -> None:
    stream = cast(BinaryIO, reader)  # fastavro only calls read
    try:
        for chunk in read_currents_file(stream, key, pseudonymise_id, chunk_events=chunk_events):
            pickle.dump((_EVENTS, [tuple(e) for e in chunk]), sink, protocol=pickle.HIGHEST_PROTOCOL)
    except CorruptFile as exc:
        pickle.dump((_CORRUPT, exc.message), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()
        return  # the parent kills this process: the rest of the file is never read
    reader.drain()
    pickle.dump((_DONE, None), sink, protocol=pickle.HIGHEST_PROTOCOL)
    sink.flush()


if __name__ == "__main__":
    _child_main()
