"""The disk spool: in order, durable across reopening, bounded, one process at a time."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.stores.spool import Spool, SpoolError, SpoolFull


@pytest.fixture
def opened() -> Iterator[list[Spool]]:
    """Spools a test opens, closed at its end."""
    spools: list[Spool] = []
    yield spools
    for spool in spools:
        spool.close()


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record.blob)
        spool.pop()
    return out


def test_records_come_back_in_order(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path, segment_bytes=100)
    opened.append(spool)
    blobs = [f"batch {i}".encode() * (i % 7 + 1) for i in range(50)]
    for blob in blobs:
        spool.append(blob)
    assert spool.depth == 50
    assert drain(spool) == blobs
    assert (spool.depth, spool.bytes) == (0, 0)
    assert list(tmp_path.glob("*.seg")) == []


def test_reopening_resumes_at_the_head(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path, segment_bytes=64)
    opened.append(spool)
    for i in range(10):
        spool.append(b"x%d" % i, created_ms=1000 + i)
    for _ in range(4):
        spool.pop()
    spool.close()
    again = Spool(tmp_path, segment_bytes=64)
    opened.append(again)
    assert again.depth == 6
    assert again.oldest_ms == 1004
    again.append(b"new")
    assert drain(again) == [b"x%d" % i for i in range(4, 10)] + [b"new"]


def test_a_torn_tail_is_cut_and_the_rest_kept(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path)
    opened.append(spool)
    spool.append(b"first")
    spool.append(b"second")
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    with open(segment, "ab") as f:
        f.write(b"\x40\x00\x00\x00partial")  # a crash in the middle of an append
    again = Spool(tmp_path)
    opened.append(again)
    assert again.depth == 2
    again.append(b"third")
    assert drain(again) == [b"first", b"second", b"third"]


def test_the_spool_is_bounded(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    opened.append(spool)
    spool.append(b"a" * 500)
    with pytest.raises(SpoolFull):
        spool.append(b"b" * 500)
    spool.pop()
    spool.append(b"b" * 500)
    assert spool.depth == 1


def test_age_is_that_of_the_oldest_record(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path)
    opened.append(spool)
    assert spool.age_s(now_ms=10_000) == 0.0
    spool.append(b"a", created_ms=1_000)
    spool.append(b"b", created_ms=5_000)
    assert spool.age_s(now_ms=10_000) == 9.0
    spool.pop()
    assert spool.age_s(now_ms=10_000) == 5.0


def test_one_process_at_a_time(tmp_path: Path, opened: list[Spool]) -> None:
    spool = Spool(tmp_path)
    opened.append(spool)
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path)
    spool.close()
    with Spool(tmp_path) as again:
        assert again.depth == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.binary(max_size=40)),
            st.tuples(st.just("pop"), st.none()),
            st.tuples(st.just("reopen"), st.none()),
        ),
        max_size=60,
    )
)
def test_the_spool_behaves_like_a_queue(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, bytes | None]]
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    spool = Spool(directory, segment_bytes=80)
    model: collections.deque[bytes] = collections.deque()
    for op, blob in ops:
        if op == "append":
            assert blob is not None
            spool.append(blob)
            model.append(blob)
        elif op == "pop":
            record = spool.peek()
            assert (record.blob if record else None) == (model[0] if model else None)
            spool.pop()
            if model:
                model.popleft()
        else:
            spool.close()
            spool = Spool(directory, segment_bytes=80)
        assert spool.depth == len(model)
    assert drain(spool) == list(model)
    spool.close()
