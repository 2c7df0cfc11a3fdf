"""A duty desk for tests of the API and the console: `DrivenDesk`, the in-memory desk on
the real alarm engine (hazmon.alarms.memory_desk.MemoryDesk), on a hand-turned clock,
moved by readings sent as the plant's gateways would send them (`Feed`).

    desk = DrivenDesk(registry)
    alarm = desk.raise_alarm("jh-chem-01", "GT-105", "high")  # 20 %LEL past its on-delay
    desk.clear("jh-chem-01", "GT-105")                        # a quiet value past its off-delay
    desk.act(Ack(alarm["alarm_id"], user="zhang.wei"))

A test chooses values and time; the engine decides the rest, as in the alarm service: a
value over `high_high` raises `high` too, the registry says which conditions latch, and
every operator input follows the ISA-18.2 table of docs/alarms.md. The service clock
(`tick()`) runs only when a test calls it, so no gateway goes offline behind its back.

`Feed` drives any desk with a `receive(messages)`, the SQLite-backed `AlarmDesk` too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson

from hazmon.alarms.core import Output
from hazmon.alarms.core.plant import quiet_band
from hazmon.alarms.memory_desk import MemoryDesk
from hazmon.contract import topics
from hazmon.contract.kinds import Condition, Kind
from hazmon.contract.registry import Registry, Sensor

HOUR_MS = 3_600_000
INTERLOCK_STATES = {Condition.trip: "tripped", Condition.bypass: "bypassed"}


class ManualClock:
    """Epoch milliseconds that move only when told. By default it starts an hour behind
    the wall clock, so what a desk stamps lies in the past of the API's own clock (the
    figures' window ends now; a reading stamped ahead of now is treated as such)."""

    def __init__(self, now_ms: int | None = None) -> None:
        self.now_ms = int(time.time() * 1000) - HOUR_MS if now_ms is None else now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance_ms(self, ms: int) -> None:
        self.now_ms += ms


class Feed:
    """Readings of a registry's sensors, sent to `receive` as each sensor's gateway
    would: one reading per telemetry message, boot 0, `seq` counting up per gateway,
    stamped by `clock`. Two readings of a sensor are never stamped alike (the engine
    would take the second for a repeat): where they would be, the clock moves on 1 ms."""

    def __init__(
        self,
        registry: Registry,
        receive: Callable[[list[tuple[str, bytes]]], Output],
        clock: ManualClock,
    ) -> None:
        self.receive = receive
        self.clock = clock
        self._sensors = {(s.id, x.id): (g.id, x) for s, g, x in registry.sensors()}
        self._seq: dict[tuple[str, str], int] = {}
        self._stamped: dict[tuple[str, str], int] = {}

    def sensor(self, site: str, sensor: str) -> Sensor:
        return self._sensors[(site, sensor)][1]

    def send(
        self, site: str, sensor: str, value: float | str, *, quality: str = "good"
    ) -> Output:
        """One reading now (a text `value` is an interlock's state); what it caused."""
        gateway, config = self._sensors[(site, sensor)]
        if self._stamped.get((site, sensor)) == self.clock():
            self.clock.advance_ms(1)
        ts_ms = self._stamped[(site, sensor)] = self.clock()
        seq = self._seq[(site, gateway)] = self._seq.get((site, gateway), -1) + 1
        field = "value" if config.analog else "state"
        reading = {"sensor": sensor, "ts_ms": ts_ms, field: value, "quality": quality}
        payload = orjson.dumps({"boot": 0, "seq": seq, "readings": [reading]})
        return self.receive([(topics.telemetry(site, gateway), payload)])

    def hold(
        self, site: str, sensor: str, value: float | str, *, quality: str = "good"
    ) -> Output:
        """`value` now and again once the sensor's delays have run (the longer of its on-
        and off-delay): what it raised or cleared by then."""
        config = self.sensor(site, sensor)
        out = self.send(site, sensor, value, quality=quality)
        delay_ms = int(max(config.on_delay_s, config.off_delay_s) * 1000)
        if delay_ms:
            self.clock.advance_ms(delay_ms)
            out.extend(self.send(site, sensor, value, quality=quality))
        return out

    def raise_alarm(
        self,
        site: str,
        sensor: str,
        condition: str,
        priority: str | None = None,
        value: float | str | None = None,
        *,
        latched: bool | None = None,
    ) -> dict[str, Any]:
        """Hold a value that makes `condition` active (`value`, else its threshold, or
        `tripped` / `bypassed` on an interlock) and answer the condition's `raised`
        event. `priority` and `latched`, when given, are checked against the registry,
        which decides them."""
        config = self.sensor(site, sensor)
        wanted = Condition(condition)
        if priority is not None and config.priority(wanted).value != priority:
            raise ValueError(f"{site}/{sensor}/{condition} is {config.priority(wanted).value}")
        if latched is not None and config.latches(wanted) != latched:
            raise ValueError(f"{site}/{sensor}/{condition} has latched={not latched}")
        held = _active_value(config, wanted) if value is None else value
        key = f"{site}/{sensor}/{condition}"
        for event in self.hold(site, sensor, held).events:
            if event.key == key and event.event == "raised":
                return event.wire()
        raise ValueError(f"holding {held!r} on {site}/{sensor} raised no {condition}")

    def clear(self, site: str, sensor: str) -> Output:
        """Hold a value that leaves every condition of the sensor inactive."""
        return self.hold(site, sensor, _quiet_value(self.sensor(site, sensor)))


def _active_value(sensor: Sensor, condition: Condition) -> float | str:
    if not sensor.analog:
        if condition not in INTERLOCK_STATES:
            raise ValueError(f"an interlock raises {condition.value} by no state; say which")
        return INTERLOCK_STATES[condition]
    thresholds = dict(sensor.thresholds.items())
    if condition not in thresholds:
        raise ValueError(f"{sensor.id} has no {condition.value} threshold; give a value")
    return thresholds[condition]


def _quiet_value(sensor: Sensor) -> float | str:
    """A value inside the sensor's quiet band (hazmon.alarms.core.plant.QuietBand)."""
    band = quiet_band(sensor)
    if sensor.kind is Kind.interlock or band is None:
        return "normal"
    low, high = max(band.above, band.floor), band.below
    if math.isinf(low) and math.isinf(high):
        return 0.0
    if math.isinf(low):
        return high - 1.0
    if math.isinf(high):
        return low + 1.0
    return (low + high) / 2


class DrivenDesk(MemoryDesk):
    """A MemoryDesk on a `ManualClock` (`clock`), with a `Feed` over it (`feed`, and its
    `send`, `hold`, `raise_alarm` and `clear` on the desk itself)."""

    def __init__(self, registry: Registry, *, clock: ManualClock | None = None) -> None:
        self.clock = ManualClock() if clock is None else clock
        super().__init__(registry=registry, clock=self.clock)
        self.feed = Feed(registry, self.receive, self.clock)
        self.send = self.feed.send
        self.hold = self.feed.hold
        self.raise_alarm = self.feed.raise_alarm
        self.clear = self.feed.clear


