"""Errors of the alarm core, raised by operator inputs; the HTTP layer maps them to
status codes in one place (api/errors.py). The core imports nothing outside itself but
the shared vocabulary, so its errors live here, under the product's root error.

    hazmon.contract.errors.HazmonError
    └── AlarmError
        ├── UnknownAlarm        no such occurrence or sensor           -> 404
        ├── IllegalTransition   an operator input the table forbids    -> 409
        └── LimitExceeded       over a configured maximum, missing why -> 400
"""

from __future__ import annotations

from hazmon.contract.errors import HazmonError


class AlarmError(HazmonError):
    """Base of the alarm service's errors."""


class UnknownAlarm(AlarmError):
    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"no such alarm or sensor: {what}")


class IllegalTransition(AlarmError):
    def __init__(self, state: str, action: str, alarm_id: str = "") -> None:
        self.state = state
        self.action = action
        self.alarm_id = alarm_id
        super().__init__(f"cannot {action} {alarm_id or 'an alarm'} in state {state}")


class LimitExceeded(AlarmError):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)
