"""Errors of the alarm service: those of its core (hazmon.alarms.core.errors, where the tree
is drawn), which every layer above the core imports from here.
"""

from __future__ import annotations

from hazmon.alarms.core.errors import AlarmError, IllegalTransition, LimitExceeded, UnknownAlarm

__all__ = ["AlarmError", "IllegalTransition", "LimitExceeded", "UnknownAlarm"]
