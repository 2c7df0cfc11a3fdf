"""The chain watch's verdicts (alarms/watch.py), on the times they are given."""

from __future__ import annotations

from typing import Any

import pytest

from hazmon.alarms.watch import ChainVerdict, DropVerdict, StreamLimits

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


def _info(*, messages: int, size: int, last: int, max_bytes: int = 10_000, max_msgs: int = -1,
          max_age_s: float = 0, first_ts: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
    return {"config": {"max_bytes": max_bytes, "max_msgs": max_msgs,
                       "max_age": int(max_age_s * 1e9)},
            "state": {"messages": messages, "bytes": size, "last_seq": last,
                      "first_ts": first_ts}}


def test_a_stream_below_its_limits_discards_nothing() -> None:
    limits = StreamLimits()
    assert limits.seen(_info(messages=10, size=1_000, last=10), 0) == 0
    # 90 came, 50 were acknowledged by every consumer and left: below the budget
    assert limits.seen(_info(messages=50, size=5_000, last=100), 1_000) == 0
    assert not limits.full


def test_a_stream_at_its_byte_limit_counts_what_it_pushed_out() -> None:
    limits = StreamLimits()
    limits.seen(_info(messages=50, size=5_000, last=50), 0)
    # 100 more came; it holds 98 (at the budget, within two messages): 52 pushed out
    assert limits.seen(_info(messages=98, size=9_800, last=150), 1_000) == 52
    assert limits.full
    assert limits.seen(_info(messages=98, size=9_800, last=160), 2_000) == 62
    # taken and acknowledged: below the limit again, nothing more counted
    assert limits.seen(_info(messages=10, size=1_000, last=170), 3_000) == 62
    assert not limits.full


def test_a_stream_at_its_message_or_age_limit_is_discarding() -> None:
    assert StreamLimits.at_limit({"max_msgs": 100}, {"messages": 100, "bytes": 1}, 0)
    assert not StreamLimits.at_limit({"max_msgs": 100}, {"messages": 99, "bytes": 1}, 0)
    hour = {"max_age": 3600 * 10**9}
    first = {"messages": 5, "bytes": 500, "first_ts": "2026-12-06T10:00:00.5Z"}
    at_10 = 1_796_551_200_000  # 2026-12-06T10:00:00Z in ms
    assert not StreamLimits.at_limit(hour, first, at_10 + 3_000_000)
    assert StreamLimits.at_limit(hour, first, at_10 + 3_599_000)  # its oldest ages out
    assert not StreamLimits.at_limit(hour, {"messages": 0, "bytes": 0}, at_10 + 9_999_999)
