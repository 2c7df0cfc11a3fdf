"""The ISA-18.2 transition table against ALARMS.md, over every (state, input) pair.

`expected()` restates ALARMS.md's two tables independently of alarms.core.table (no
shared data): hypothesis and an exhaustive loop both compare the two.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alarms.core.table import (
    OPERATOR_INPUTS,
    PROCESS_INPUTS,
    TABLE,
    Input,
    Outcome,
    State,
    apply,
)
from alarms.errors import IllegalTransition

ILLEGAL = "illegal"
N, U, A, R = State.normal, State.unack, State.acked, State.rtn_unack
SH, SU, OOS = State.shelved, State.suppressed, State.out_of_service


def expected(
    s: State, i: Input, latched: bool, returned: bool, active: bool, maint: bool
) -> Outcome | str | None:
    """ALARMS.md, row by row."""
    again = (U, ("raised",)) if active else (N, ())
    # process inputs
    if i is Input.active:
        if s is N or s is R:
            return Outcome(U, False, ("raised",))
        if s in (U, A) and latched and returned:
            return Outcome(s, False, ("raised",))
        return None
    if i is Input.clear:
        if s is U and not latched:
            return Outcome(R, False, ("cleared",))
        if s is A and not latched:
            return Outcome(N, False, ("cleared",))
        if s in (U, A) and latched:
            return Outcome(s, True, ("cleared",))
        return None
    # operator inputs
    if i is Input.ack:
        if s is U:
            return Outcome(A, returned, ("acked",))
        if s is R:
            return Outcome(N, False, ("acked",))
        return ILLEGAL
    if i is Input.reset:
        return Outcome(N, False, ("reset",)) if s is A and latched and returned else ILLEGAL
    if i is Input.shelve:
        return Outcome(SH, returned, ("shelved",)) if s in (U, A, R) else ILLEGAL
    if i is Input.unshelve:
        return Outcome(again[0], False, ("unshelved", *again[1])) if s is SH else ILLEGAL
    if i is Input.out_of_service:
        return Outcome(OOS, returned, ("suppressed",))
    if i is Input.return_to_service:
        if s is not OOS:
            return ILLEGAL
        if maint:  # stacked hiding: maintenance still on
            return Outcome(SU, returned, ("suppressed",))
        return Outcome(again[0], False, ("unsuppressed", *again[1]))
    # device inputs
    if i is Input.maintenance_start:
        return None if s is OOS else Outcome(SU, returned, ("suppressed",))
    if i is Input.maintenance_end:
        return Outcome(again[0], False, ("unsuppressed", *again[1])) if s is SU else None
    raise AssertionError(f"no expectation for {i}")


def possible(s: State, latched: bool, returned: bool) -> bool:
    """Only a latched occurrence is `returned`; normal and rtn_unack never are."""
    return not returned or (latched and s not in (N, R))


def actual(
    s: State, i: Input, latched: bool, returned: bool, active: bool, maint: bool
) -> Outcome | str | None:
    try:
        return apply(s, returned, i, latched=latched, active=active, maintenance=maint)
    except IllegalTransition as exc:
        assert (exc.state, exc.action) == (s.value, i.value)
        return ILLEGAL


@given(
    st.sampled_from(State), st.sampled_from(Input), st.booleans(), st.booleans(),
    st.booleans(), st.booleans(),
)
def test_every_state_and_input_follows_alarms_md(
    s: State, i: Input, latched: bool, returned: bool, active: bool, maint: bool
) -> None:
    returned = returned and possible(s, latched, returned)
    assert actual(s, i, latched, returned, active, maint) == expected(
        s, i, latched, returned, active, maint
    )


def test_every_combination_exhaustively() -> None:
    count = 0
    for combo in itertools.product(State, Input, *([(False, True)] * 4)):
        if not possible(combo[0], combo[2], combo[3]):
            continue
        assert actual(*combo) == expected(*combo), combo
        count += 1
    assert count == len(State) * len(Input) * 8 + 5 * len(Input) * 4


@pytest.mark.parametrize(
    ("state", "inp"),
    [(A, Input.ack), (N, Input.ack), (N, Input.shelve), (U, Input.reset), (SH, Input.shelve)],
)
def test_illegal_operator_inputs_raise_with_the_pair(state: State, inp: Input) -> None:
    with pytest.raises(IllegalTransition) as caught:
        apply(state, False, inp, latched=False, active=True, alarm_id="s/x/high#1")
    assert (caught.value.state, caught.value.action) == (state.value, inp.value)
    assert "s/x/high#1" in str(caught.value)


def test_an_unlisted_process_input_changes_nothing() -> None:
    for state in (A, SH, SU, OOS):
        assert apply(state, False, Input.active, latched=False, active=True) is None
    assert apply(N, False, Input.clear, latched=True, active=False) is None


def test_the_table_is_the_only_place_and_every_row_is_reachable() -> None:
    for row in TABLE:
        state = sorted(row.sources)[0]
        latched = row.guard.name.startswith("latched")
        maint = row.guard.name == "in_maintenance"
        try:
            result = apply(state, latched, row.input, latched=latched, active=False,
                           maintenance=maint)
        except IllegalTransition:
            pytest.fail(f"row {row} is not reachable")
        assert result is not None
        assert row.event in result.events
    assert set(Input) >= PROCESS_INPUTS | OPERATOR_INPUTS
