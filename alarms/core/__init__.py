"""The alarm core: readings, gateway states, operator inputs and clock ticks in, events
out. No I/O and no clock of its own (docs/development.md §1); tests/alarms/test_core_purity.py
keeps it that way."""

from hazmon.alarms.core.engine import Engine
from hazmon.alarms.core.model import (
    Dirty,
    Event,
    NotifyRequest,
    OccurrenceRecord,
    Output,
    RiskChange,
)
from hazmon.alarms.core.table import Input, State

__all__ = [
    "Dirty",
    "Engine",
    "Event",
    "Input",
    "NotifyRequest",
    "OccurrenceRecord",
    "Output",
    "RiskChange",
    "State",
]
