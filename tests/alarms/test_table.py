"""The ISA-18.2 transition table against docs/alarms.md, over every (state, input) pair.

`expected()` restates docs/alarms.md's two tables independently of hazmon.alarms.core.table (no
shared data): hypothesis and an exhaustive loop both compare the two.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazmon.alarms.core.table import (
    OPERATOR_INPUTS,
    PROCESS_INPUTS,
    TABLE,
    Input,
    Outcome,
    State,
    apply,
)
from hazmon.alarms.errors import IllegalTransition

ILLEGAL = "illegal"
N, U, A, R = State.normal, State.unack, State.acked, State.rtn_unack
SH, SU, OOS = State.shelved, State.suppressed, State.out_of_service


def expected(
    s: State, i: Input, latched: bool, returned: bool, active: bool, maint: bool,
    before: State | None = None,
) -> Outcome | str | None:
    """docs/alarms.md, row by row. `before`: the state a hidden point had when hidden."""
    shown = _shown_again(active, latched, before)
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
        return shown("unshelved") if s is SH else ILLEGAL
    if i is Input.out_of_service:
        return Outcome(OOS, returned, ("suppressed",))
    if i is Input.return_to_service:
        if s is not OOS:
            return ILLEGAL
        if maint:  # stacked hiding: maintenance still on
            return Outcome(SU, returned, ("suppressed",))
        return shown("unsuppressed")
    # device inputs
    if i is Input.maintenance_start:
        return None if s is OOS else Outcome(SU, returned, ("suppressed",))
    if i is Input.maintenance_end:
        return shown("unsuppressed") if s is SU else None
    raise AssertionError(f"no expectation for {i}")


def _shown_again(active: bool, latched: bool, before: State | None) -> Any:
    """docs/alarms.md, States: hiding never discharges an obligation."""

    def outcome(name: str) -> Outcome:
        if active:  # its condition is active then
            return Outcome(U, False, (name, "raised"))
        if latched and before in (U, A):  # latched, not reset: as it was, returned
            assert before is not None
            return Outcome(before, True, (name,))
        if before in (U, R):  # never acknowledged
            return Outcome(R, False, (name,))
        return Outcome(N, False, (name,))

    return outcome


def possible(s: State, latched: bool, returned: bool) -> bool:
    """Only a latched occurrence is `returned`; normal and rtn_unack never are."""
    return not returned or (latched and s not in (N, R))


def actual(
    s: State, i: Input, latched: bool, returned: bool, active: bool, maint: bool,
    before: State | None = None,
) -> Outcome | str | None:
    try:
        return apply(s, returned, i, latched=latched, active=active, maintenance=maint,
                     before_hiding=before)
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


BEFORE_HIDING = (None, N, U, A, R)


@given(
    st.sampled_from([SH, SU, OOS]), st.sampled_from(Input), st.booleans(), st.booleans(),
    st.booleans(), st.sampled_from(BEFORE_HIDING),
)
def test_showing_a_hidden_point_again_discharges_no_obligation(
    s: State, i: Input, latched: bool, active: bool, maint: bool, before: State | None
) -> None:
    assert actual(s, i, latched, False, active, maint, before) == expected(
        s, i, latched, False, active, maint, before
    )


def test_showing_again_every_combination_exhaustively() -> None:
    for combo in itertools.product([SH, SU, OOS], Input, *([(False, True)] * 3),
                                   BEFORE_HIDING):
        s, i, latched, active, maint, before = combo
        assert actual(s, i, latched, False, active, maint, before) == expected(
            s, i, latched, False, active, maint, before), combo


def test_an_unacknowledged_latched_alarm_cleared_while_hidden_still_needs_ack_and_reset(
) -> None:
    shelved = apply(SH, False, Input.unshelve, latched=True, active=False, before_hiding=U)
    assert shelved == Outcome(U, True, ("unshelved",))
    calibrated = apply(SU, False, Input.maintenance_end, latched=True, active=False,
                       before_hiding=U)
    assert calibrated == Outcome(U, True, ("unsuppressed",))
    back = apply(OOS, False, Input.return_to_service, latched=True, active=False,
                 before_hiding=A)
    assert back == Outcome(A, True, ("unsuppressed",))
    unlatched = apply(SH, False, Input.unshelve, latched=False, active=False, before_hiding=R)
    assert unlatched == Outcome(R, False, ("unshelved",))


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
