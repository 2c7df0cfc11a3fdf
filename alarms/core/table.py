"""The ISA-18.2 / IEC 62682 transition table of docs/alarms.md: everything that moves an
alarm point from one state to another lives here, as one table of data.

`apply(state, returned, input, ...)` looks the pair up and returns the `Outcome` (the
new state, the `returned` flag and the events to journal), `None` for a process or
device input the table does not list (it changes nothing), and raises
`IllegalTransition` for an operator input the table does not list.

Two rows go beyond docs/alarms.md's table, both about stacked hiding (its precedence:
out_of_service over suppressed over shelved): a sensor returned to service while it is
still in maintenance goes to `suppressed`, and maintenance that starts or ends under
out-of-service changes nothing. Maintenance starting on a shelved point replaces the
shelving (the row "any but out_of_service -> suppressed").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from hazmon.alarms.core.errors import IllegalTransition


class State(StrEnum):
    normal = "normal"
    unack = "unack"
    acked = "acked"
    rtn_unack = "rtn_unack"
    shelved = "shelved"
    suppressed = "suppressed"
    out_of_service = "out_of_service"


class Input(StrEnum):
    # process inputs: the condition (after its delays) becomes active or clears
    active = "active"
    clear = "clear"
    # device inputs: a reading of quality `maintenance` starts it, another ends it
    maintenance_start = "maintenance_start"
    maintenance_end = "maintenance_end"
    # operator inputs (expiry of shelving and out-of-service uses the same inputs)
    ack = "ack"
    reset = "reset"
    shelve = "shelve"
    unshelve = "unshelve"
    out_of_service = "out_of_service"
    return_to_service = "return_to_service"


PROCESS_INPUTS = frozenset({Input.active, Input.clear})
DEVICE_INPUTS = frozenset({Input.maintenance_start, Input.maintenance_end})
OPERATOR_INPUTS = frozenset(Input) - PROCESS_INPUTS - DEVICE_INPUTS

#: An occurrence is open (not yet ended) in these states, and in a hidden state
#: entered from one of them.
OPEN_STATES = frozenset({State.unack, State.acked, State.rtn_unack})
HIDDEN_STATES = frozenset({State.shelved, State.suppressed, State.out_of_service})


class Guard(Enum):
    """A condition on the point, besides its state, that a row requires."""

    any = "any"
    latched = "latched"
    not_latched = "not latched"
    latched_returned = "latched and returned"
    in_maintenance = "sensor in maintenance"
    not_in_maintenance = "sensor not in maintenance"


class To(Enum):
    """Targets that are not a fixed state."""

    same = "same state"
    re_evaluated = "re-evaluated"  # see `re_evaluate`: hiding discharges no obligation


@dataclass(frozen=True, slots=True)
class Row:
    sources: frozenset[State]
    input: Input
    guard: Guard
    to: State | To
    returned: bool | None  # None: keep the flag as it is
    event: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    returned: bool
    events: tuple[str, ...]


def _s(*states: State) -> frozenset[State]:
    return frozenset(states)


_ALL = frozenset(State)
N, U, A, R = State.normal, State.unack, State.acked, State.rtn_unack
SH, SU, OOS = State.shelved, State.suppressed, State.out_of_service
In, G = Input, Guard

TABLE: tuple[Row, ...] = (
    # process inputs
    Row(_s(N), In.active, G.any, U, False, "raised"),
    Row(_s(U), In.clear, G.not_latched, R, False, "cleared"),
    Row(_s(A), In.clear, G.not_latched, N, False, "cleared"),
    Row(_s(U, A), In.clear, G.latched, To.same, True, "cleared"),
    Row(_s(R), In.active, G.any, U, False, "raised"),
    Row(_s(U, A), In.active, G.latched_returned, To.same, False, "raised"),
    # operator inputs
    Row(_s(U), In.ack, G.any, A, None, "acked"),
    Row(_s(R), In.ack, G.any, N, False, "acked"),
    Row(_s(A), In.reset, G.latched_returned, N, False, "reset"),
    Row(_s(U, A, R), In.shelve, G.any, SH, None, "shelved"),
    Row(_s(SH), In.unshelve, G.any, To.re_evaluated, False, "unshelved"),
    Row(_ALL, In.out_of_service, G.any, OOS, None, "suppressed"),
    Row(_s(OOS), In.return_to_service, G.not_in_maintenance, To.re_evaluated, False,
        "unsuppressed"),
    Row(_s(OOS), In.return_to_service, G.in_maintenance, SU, None, "suppressed"),
    # device inputs
    Row(_ALL - _s(OOS), In.maintenance_start, G.any, SU, None, "suppressed"),
    Row(_s(SU), In.maintenance_end, G.any, To.re_evaluated, False, "unsuppressed"),
)

_INDEX: dict[tuple[State, Input], tuple[Row, ...]] = {}
for _row in TABLE:
    for _state in sorted(_row.sources):
        _INDEX[(_state, _row.input)] = (*_INDEX.get((_state, _row.input), ()), _row)


def _guard_holds(guard: Guard, *, latched: bool, returned: bool, maintenance: bool) -> bool:
    if guard is Guard.latched:
        return latched
    if guard is Guard.not_latched:
        return not latched
    if guard is Guard.latched_returned:
        return latched and returned
    if guard is Guard.in_maintenance:
        return maintenance
    if guard is Guard.not_in_maintenance:
        return not maintenance
    return True


def rows_for(state: State, inp: Input) -> tuple[Row, ...]:
    """The rows of the table for one (state, input) pair, in table order."""
    return _INDEX.get((state, inp), ())


def apply(
    state: State,
    returned: bool,
    inp: Input,
    *,
    latched: bool,
    active: bool,
    maintenance: bool = False,
    before_hiding: State | None = None,
    alarm_id: str = "",
) -> Outcome | None:
    """The outcome of one input; None when nothing changes; IllegalTransition for an
    operator input the table does not allow. `before_hiding` is the state a hidden point
    had when it was hidden (None: normal), which re-evaluation needs."""
    for row in rows_for(state, inp):
        if _guard_holds(row.guard, latched=latched, returned=returned, maintenance=maintenance):
            return _outcome(row, state, returned, active, latched, before_hiding)
    if inp in OPERATOR_INPUTS:
        raise IllegalTransition(state.value, inp.value, alarm_id)
    return None


def re_evaluate(active: bool, latched: bool, before_hiding: State | None) -> tuple[State, bool]:
    """Where a point goes when it is shown again, and its `returned` flag. Hiding never
    discharges an obligation: `unack` if the condition is active; else a latched
    occurrence that was not reset keeps the state it had, returned (it still needs its
    ack and reset); else an unacknowledged one waits in `rtn_unack`; else `normal`."""
    if active:
        return State.unack, False
    if latched and before_hiding in (State.unack, State.acked):
        return before_hiding, True
    if before_hiding in (State.unack, State.rtn_unack):
        return State.rtn_unack, False
    return State.normal, False


def _outcome(
    row: Row, state: State, returned: bool, active: bool, latched: bool,
    before_hiding: State | None,
) -> Outcome:
    events: tuple[str, ...] = (row.event,) if row.event else ()
    new_returned = returned if row.returned is None else row.returned
    if row.to is To.same:
        to = state
    elif row.to is To.re_evaluated:
        to, new_returned = re_evaluate(active, latched, before_hiding)
        if active:
            events = (*events, "raised")
    else:
        to = row.to
    if to in (State.normal, State.rtn_unack):
        new_returned = False
    return Outcome(to, new_returned, events)
