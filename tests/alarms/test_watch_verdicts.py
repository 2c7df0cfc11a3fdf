"""The chain watch's verdicts (alarms/watch.py), on the times they are given."""

from __future__ import annotations

import pytest

from hazmon.alarms.watch import ChainVerdict, DropVerdict

pytestmark = pytest.mark.unit


def test_the_chain_is_dead_once_the_oldest_canary_waits_past_the_deadline() -> None:
    chain = ChainVerdict(deadline_ms=30_000)
    assert not chain.check(0)  # nothing sent: nothing known
    chain.sent(1, 0)
    assert chain.echoed(1, 38) is False
    assert chain.rtt_ms == 38.0
    for n, at in ((2, 10_000), (3, 20_000), (4, 30_000), (5, 40_000)):
        chain.sent(n, at)
    assert not chain.check(40_000)  # canary 2 has waited exactly 30 s
    assert chain.check(40_001)
    assert chain.dead and chain.dead_since_ms == 40_001
    assert chain.silent_ms(40_001) == 30_001
    assert not chain.check(50_000)  # found dead once


def test_an_echo_answers_its_canary_and_every_older_one() -> None:
    chain = ChainVerdict(deadline_ms=30_000)
    for n in range(1, 6):
        chain.sent(n, n * 10_000)
    assert chain.check(45_000)
    # a canary queued while the service was frozen comes back: the chain works again
    assert chain.echoed(4, 46_000) is True
    assert not chain.dead and chain.rtt_ms == 6_000.0
    assert list(chain.waiting) == [5]
    assert not chain.check(75_000)
    assert chain.check(80_001)  # canary 5 never came back


def test_an_echo_of_an_unknown_canary_changes_nothing() -> None:
    chain = ChainVerdict(deadline_ms=1_000)
    chain.sent(1, 0)
    assert chain.echoed(7, 10) is False
    assert chain.rtt_ms is None and chain.waiting == {1: 0}


def test_the_broker_is_dropping_while_its_counter_rises() -> None:
    drops = DropVerdict(quiet_ms=60_000)
    assert drops.seen(120, 0) is None  # the baseline: what it dropped before is not ours
    assert drops.seen(120, 10_000) is None
    assert drops.seen(125, 20_000) is True
    assert drops.dropping and drops.dropped == 5
    assert drops.seen(130, 30_000) is None  # still dropping: said once
    assert not drops.check(89_999)
    assert drops.check(90_000)  # 60 s without a rise
    assert not drops.dropping and drops.dropped == 10


def test_a_restarted_broker_is_a_new_baseline() -> None:
    drops = DropVerdict(quiet_ms=60_000)
    drops.seen(500, 0)
    assert drops.seen(3, 1_000) is None  # the counter went back: restarted, nothing dropped
    assert drops.seen(4, 2_000) is True
    assert drops.dropped == 1
