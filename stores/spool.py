"""A bounded, in-order disk spool of packed batches (what ingest keeps while a store is down).

Records are appended to segment files (`000000000001.seg`, ...) and fsync'd before
`append` returns, so a batch in the spool is durable: ingest may acknowledge its
messages. `peek` gives the oldest record, `pop` drops it once it is written to the
store. The read position is kept in `head`; after a crash the records from there are
replayed again (store writes are idempotent). A torn record at the end (a crash in
the middle of an append) is cut off when the spool is opened.

Each record: a 16-byte header (payload length, CRC-32 of the payload, created_ms),
then the payload. The spool holds at most `max_bytes`; `append` beyond that raises
`SpoolFull`, and the caller stops taking new data. One process at a time: the folder
is locked (`flock`) while open.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hazmon.stores.base import StoreError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<IIq")
_SUFFIX = ".seg"


class SpoolError(StoreError):
    """The spool cannot be used (locked by another process, unreadable)."""


class SpoolFull(SpoolError):
    """The spool holds `max_bytes` already."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    blob: bytes
    created_ms: int


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 2 * 1024**3,
        segment_bytes: int = 64 * 1024**2,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(directory / "lock")
        self.depth = 0  # records
        self.bytes = 0  # bytes on disk, headers included
        self._read_seg, self._read_pos = self._load_head()
        self._reader: BinaryIO | None = None
        self._writer: BinaryIO | None = None
        self._write_seg = 0
        self._oldest_ms: int | None = None
        self._scan()

    # -- state ------------------------------------------------------------------------------

    @property
    def oldest_ms(self) -> int | None:
        """When the oldest record was appended (None when empty)."""
        return self._oldest_ms if self.depth else None

    def age_s(self, now_ms: int | None = None) -> float:
        oldest = self.oldest_ms
        if oldest is None:
            return 0.0
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        return max(0.0, (now - oldest) / 1000)

    # -- append -----------------------------------------------------------------------------

    def append(self, blob: bytes, *, created_ms: int | None = None) -> None:
        """Append one record, durably (fsync) before returning."""
        size = _HEADER.size + len(blob)
        if self.bytes + size > self.max_bytes:
            raise SpoolFull(f"spool {self.directory} holds {self.bytes} of {self.max_bytes} bytes")
        ts = created_ms if created_ms is not None else time.time_ns() // 1_000_000
        writer = self._writable(size)
        writer.write(_HEADER.pack(len(blob), zlib.crc32(blob), ts) + blob)
        writer.flush()
        os.fsync(writer.fileno())
        if self.depth == 0:
            self._oldest_ms = ts
        self.depth += 1
        self.bytes += size

    def _writable(self, size: int) -> BinaryIO:
        writer = self._writer
        if writer is not None and writer.tell() > 0 and writer.tell() + size > self.segment_bytes:
            writer.close()
            self._writer = None
        if self._writer is None:
            self._write_seg += 1
            self._writer = open(self._path(self._write_seg), "ab")  # noqa: SIM115
            _fsync_dir(self.directory)
            if self.depth == 0:
                self._move_head(self._write_seg, 0)
        return self._writer

    # -- read -------------------------------------------------------------------------------

    def peek(self) -> SpoolRecord | None:
        """The oldest record, left in the spool."""
        if self.depth == 0:
            return None
        length, crc, ts = self._header()
        assert self._reader is not None
        blob = self._reader.read(length)
        if len(blob) != length or zlib.crc32(blob) != crc:
            raise SpoolError(f"spool record at {self._read_seg}:{self._read_pos} is bad")
        return SpoolRecord(blob, ts)

    def pop(self) -> None:
        """Drop the oldest record (once it is written to the store)."""
        if self.depth == 0:
            return
        size = _HEADER.size + self._header()[0]
        self.depth -= 1
        self.bytes -= size
        if self.depth == 0:
            self._reset()
            return
        self._move_head(self._read_seg, self._read_pos + size)
        self._oldest_ms = self._header()[2]

    def _header(self) -> tuple[int, int, int]:
        """(length, crc, created_ms) of the oldest record; finished segments are removed."""
        while True:
            reader = self._readable()
            header = reader.read(_HEADER.size)
            if len(header) == _HEADER.size:
                length, crc, ts = _HEADER.unpack(header)
                return length, crc, ts
            if self._read_seg >= self._write_seg:
                raise SpoolError(f"spool {self.directory}: {self.depth} records missing")
            self._next_segment()

    def _readable(self) -> BinaryIO:
        if self._reader is None:
            self._reader = open(self._path(self._read_seg), "rb")  # noqa: SIM115
        self._reader.seek(self._read_pos)
        return self._reader

    def _next_segment(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._path(self._read_seg).unlink(missing_ok=True)
        self._move_head(self._read_seg + 1, 0)

    def _reset(self) -> None:
        """Empty: remove every segment, start the next one afresh."""
        for handle in (self._reader, self._writer):
            if handle is not None:
                handle.close()
        self._reader = self._writer = None
        for path in self._segments():
            path.unlink(missing_ok=True)
        self.bytes = 0
        self._oldest_ms = None
        self._move_head(self._write_seg + 1, 0)

    # -- files ------------------------------------------------------------------------------

    def _path(self, seg: int) -> Path:
        return self.directory / f"{seg:012d}{_SUFFIX}"

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def _load_head(self) -> tuple[int, int]:
        try:
            seg, pos = (self.directory / "head").read_text().split()
            return int(seg), int(pos)
        except (OSError, ValueError):
            return 0, 0

    def _move_head(self, seg: int, pos: int) -> None:
        if seg != self._read_seg and self._reader is not None:
            self._reader.close()
            self._reader = None
        self._read_seg, self._read_pos = seg, pos
        tmp = self.directory / "head.tmp"
        tmp.write_text(f"{seg} {pos}\n")
        os.replace(tmp, self.directory / "head")

    def _scan(self) -> None:
        """Count the records from the head on; cut a torn tail; drop consumed segments."""
        for path in self._segments():
            seg = int(path.stem)
            self._write_seg = max(self._write_seg, seg)
            if seg < self._read_seg:
                path.unlink()
                continue
            start = self._read_pos if seg == self._read_seg else 0
            if seg > self._read_seg and self.depth == 0:
                self._move_head(seg, 0)
            self._scan_segment(path, start)
        if self.depth == 0:
            self._reset()

    def _scan_segment(self, path: Path, start: int) -> None:
        with open(path, "r+b") as f:
            f.seek(start)
            good = start
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                length, crc, ts = _HEADER.unpack(header)
                blob = f.read(length)
                if len(blob) != length or zlib.crc32(blob) != crc:
                    break
                if self.depth == 0:
                    self._oldest_ms = ts
                self.depth += 1
                self.bytes += _HEADER.size + length
                good = f.tell()
            if f.seek(0, os.SEEK_END) != good:
                log.warning("spool %s: cut a torn record at byte %d", path, good)
                f.truncate(good)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in (self._reader, self._writer):
            if handle is not None:
                handle.close()
        self._reader = self._writer = None
        self._lock_file.close()


def _lock(path: Path) -> BinaryIO:
    handle = open(path, "ab")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise SpoolError(f"{path.parent} is in use by another hazmon process") from exc
    return handle


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
