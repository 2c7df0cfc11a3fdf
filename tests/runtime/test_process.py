"""settle_heap: what exists at start-up leaves the collector's generations."""

from __future__ import annotations

import gc

import pytest

from hazmon.runtime.process import settle_heap

pytestmark = pytest.mark.unit


def test_what_exists_is_frozen_and_later_objects_are_collected() -> None:
    settled = gc.get_freeze_count() > 0  # the test session's own (tests/conftest.py)
    gc.unfreeze()
    try:
        kept = [[i] for i in range(10_000)]
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        later = [[i] for i in range(100)]
        gc.collect()
        # what came later stays collectable: nothing joined the frozen (objects of it
        # that other code frees meanwhile leave it, so the count may only fall)
        assert gc.get_freeze_count() <= frozen
        assert gc.is_tracked(later[0])
    finally:
        gc.unfreeze()
        if settled:
            gc.freeze()


def test_quick_handoffs_sets_a_1_ms_switch_interval() -> None:
    import sys

    from hazmon.runtime.process import SWITCH_INTERVAL_S, quick_handoffs

    before = sys.getswitchinterval()
    try:
        quick_handoffs()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S) == 0.001
    finally:
        sys.setswitchinterval(before)
