"""Bounds on a gateway's `boot` and `seq` (docs/contract.md §3, project notes), shared by ingest
and the alarm engine. Pure: no I/O, no clock.

- `boot` and `seq` are integers from 0 to MAX_WIRE_INT (2^53 - 1): exact in a JSON
  number, a float64 and an InfluxDB int64 field alike.
- A `boot` more than MAX_BOOT_STEP beyond the gateway's last known boot is not
  adopted (`boot_jump`): a gateway increments its boot by one per start, so such a
  message is a forgery or a corrupt counter, and adopting it would make every later
  message and will of the real boot look like an older boot's. The message is
  dead-lettered with the reason BOOT_JUMP.
- Lost messages are counted up to MAX_LOST_MESSAGES and stay there (`add_lost`), so
  the `gateway_status` point always fits InfluxDB's int64.
"""

from __future__ import annotations

MAX_WIRE_INT = 2**53 - 1
MAX_BOOT_STEP = 1000
MAX_LOST_MESSAGES = MAX_WIRE_INT
BOOT_JUMP = "boot_jump"  # the dead-letter reason


def in_bounds(value: object) -> bool:
    """An integer (not a bool) from 0 to MAX_WIRE_INT."""
    return type(value) is int and 0 <= value <= MAX_WIRE_INT


def boot_jump(last_boot: int | None, boot: int) -> bool:
    """True when `boot` is more than MAX_BOOT_STEP beyond `last_boot` (None: no boot
    known yet, so nothing is a jump). An older or equal boot is never a jump."""
    return last_boot is not None and boot - last_boot > MAX_BOOT_STEP


def add_lost(total: int, lost: int) -> int:
    """`total + lost`, saturating at MAX_LOST_MESSAGES (never below 0)."""
    return min(MAX_LOST_MESSAGES, max(0, total) + max(0, lost))


__all__ = [
    "BOOT_JUMP",
    "MAX_BOOT_STEP",
    "MAX_LOST_MESSAGES",
    "MAX_WIRE_INT",
    "add_lost",
    "boot_jump",
    "in_bounds",
]
