"""The store-and-forward buffer: order, bound, eviction counts, restarts."""

from __future__ import annotations

from pathlib import Path

from hazmon.gateway.buffer import Buffer


def test_boot_increments_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    for expected in (0, 1, 2):
        buf = Buffer(path, max_messages=10)
        assert buf.next_boot() == expected
        buf.close()


def test_waiting_batches_come_back_oldest_first_and_survive_restart(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    buf = Buffer(path, max_messages=100)
    for i in range(5):
        buf.add(b"[%d]" % i, first_ts_ms=i, readings=1, handed=i == 2)
    assert buf.waiting() == 4
    buf.close()
    buf = Buffer(path, max_messages=100)  # what was handed to a dead client waits again
    assert buf.waiting() == 5
    order = []
    while (stored := buf.next_waiting()) is not None:
        order.append(stored.body)
        buf.mark_handed(stored.id)
        buf.acknowledged(stored.id)
    assert order == [b"[0]", b"[1]", b"[2]", b"[3]", b"[4]"]
    assert len(buf) == 0


def test_bound_evicts_oldest_waiting_and_counts_it(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    buf = Buffer(path, max_messages=10)
    evictions = []
    for i in range(15):
        _, ev = buf.add(b"[%d]" % i, first_ts_ms=i, readings=3, handed=False)
        if ev:
            evictions.append(ev.messages)
    assert len(buf) == 10
    assert sum(evictions) == 5
    assert buf.evicted_messages == 5 and buf.evicted_readings == 15
    first = buf.next_waiting()
    assert first is not None and first.body == b"[5]"
    buf.close()
    buf = Buffer(path, max_messages=10)
    assert buf.evicted_messages == 5  # counters survive a restart
    assert buf.take_unreported_evictions() == 5
    assert buf.take_unreported_evictions() == 0


def test_handed_batches_are_never_evicted_nor_counted_against_the_bound(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "gw.sqlite3", max_messages=10)
    for i in range(10):
        buf.add(b"[w%d]" % i, first_ts_ms=i, readings=1, handed=False)
    for i in range(12):
        buf.add(b"[h%d]" % i, first_ts_ms=i, readings=1, handed=True)
    assert len(buf) == 22 and buf.waiting() == 10  # in the MQTT client's hands: it resends
    assert buf.evicted_messages == 0
    stored = buf.next_waiting()
    assert stored is not None
    buf.mark_handed(stored.id)
    assert buf.waiting() == 9
    buf.acknowledged(stored.id)
    assert len(buf) == 21
