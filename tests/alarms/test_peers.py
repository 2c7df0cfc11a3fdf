"""How alarm workers share the partitions (hazmon.alarms.workers.Peers, docs/scale-out.md
"Spreading partitions"): a fair share is an even split over the workers heard from
lately, a worker gone quiet stops counting, and a partition owned by a live worker is
known as owned. And a partition's clock (StreamClock) goes by the newest message."""

from __future__ import annotations

from hazmon.alarms.workers import PRESENCE_LOST_S, Peers


def test_alone_a_worker_owns_every_partition() -> None:
    peers = Peers("w1")
    assert peers.fair_share(16, now=0.0) == 16  # not even heard from itself yet


def test_the_share_is_an_even_split_rounded_up() -> None:
    peers = Peers("w1")
    for name in ("w1", "w2", "w3"):
        peers.heard(name, [], now=10.0)
    assert peers.fair_share(16, now=10.5) == 6  # 6 + 6 + 4
    assert peers.fair_share(4, now=10.5) == 2
    assert peers.fair_share(2, now=10.5) == 1  # more workers than partitions


def test_a_worker_not_heard_from_stops_counting_and_its_partitions_are_unowned() -> None:
    peers = Peers("w1")
    peers.heard("w1", [0, 1], now=0.0)
    peers.heard("w2", [2, 3], now=0.0)
    assert peers.fair_share(4, now=1.0) == 2
    assert peers.owned_elsewhere(2, now=1.0)
    assert not peers.owned_elsewhere(0, now=1.0)  # its own partitions are not "elsewhere"
    later = PRESENCE_LOST_S + 0.1
    assert peers.fair_share(4, now=later) == 4  # w2 is gone; w1 always counts itself
    assert not peers.owned_elsewhere(2, now=later)
    assert set(peers.live(now=later)) == {"w1"}


def test_the_newest_word_of_a_worker_counts() -> None:
    peers = Peers("w1")
    peers.heard("w2", [0, 1, 2], now=0.0)
    peers.heard("w2", [0], now=1.0)
    assert peers.owned_elsewhere(0, now=1.5)
    assert not peers.owned_elsewhere(2, now=1.5)


def test_a_partitions_clock_goes_by_the_newest_message_not_the_last() -> None:
    """A message delivered again comes after newer ones: the clock must not stay at the
    batch's last message, or the newer readings' times are capped at it."""
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from typing import Any, cast

    from hazmon.alarms.workers import StreamClock

    def stored(ms: int) -> Any:
        at = datetime.fromtimestamp(ms / 1000, UTC)
        return SimpleNamespace(metadata=SimpleNamespace(timestamp=at))

    clock = StreamClock(1_000)
    clock.advance(cast(Any, [stored(5_000), stored(9_000), stored(2_000)]))  # 2_000: again
    assert clock() == 9_000
    clock.advance(cast(Any, [stored(3_000)]))
    assert clock() == 9_000  # never back
    clock.advance([])
    assert clock() == 9_000
