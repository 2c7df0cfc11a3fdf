"""What ingest knows of each gateway: its boot, its last `seq`, lost messages, online state.

`seq` counts the messages of one gateway boot from 0 (docs/contract.md §3). For each
(site, gateway) the tracker keeps the boot and the highest `seq` seen:

- the next `seq` (last + 1): nothing lost;
- a jump forward: the messages in between are lost (counted, cumulative);
- a repeat or an older `seq` (a QoS 1 redelivery): nothing counted;
- a newer boot: the gateway restarted; `seq` starts again from 0, so a first `seq`
  of n means n messages of the new boot were lost; an older boot's late message
  is ignored;
- a boot more than MAX_BOOT_STEP beyond the last (`hazmon.contract.sequence.boot_jump`) is
  not adopted: the pipeline dead-letters the message (`boot_jump`) before it gets
  here. The lost count saturates at MAX_LOST_MESSAGES (it fits InfluxDB's int64).

The first message after ingest starts sets the baseline (what came before is not
known). Any change of the lost count, the boot or the online state gives a
`gateway_status` point (docs/contract.md §5); so does a gateway's first telemetry
while its state is not known (nothing in the store yet), so that the store says from
when it was online.

`online` agrees with the alarm service's `offline` alarm (docs/alarms.md): false on
the gateway's will or `online: false`, and also when no telemetry has arrived for the
gateway's `offline_after_s` (silence counts: `silence()`, called every second, judged
by arrival, measured from ingest's start at the earliest); true again on telemetry or
`online: true`. The point written for silence carries `silent_since_ms` (the last
arrival, or ingest's start), so that feed accounting (docs/feeds.md) counts the
gateway offline from when it fell silent, not from when silence was judged. Messages
feed it from one thread and `silence()` from another: a lock
keeps them apart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hazmon.contract.sequence import add_lost, boot_jump
from hazmon.stores.base import Point


@dataclass(slots=True)
class GatewayState:
    boot: int | None = None
    last_seq: int = -1
    lost_messages: int = 0
    online: bool | None = None
    last_rx_ms: int | None = None  # last telemetry's arrival (receiving clock)


@dataclass(frozen=True, slots=True)
class Observation:
    lost: int  # newly lost messages
    rebooted: bool
    status: Point | None  # a gateway_status point to write, on any change


class GatewayTracker:
    def __init__(self, offline_after_s: dict[tuple[str, str], float] | None = None) -> None:
        self._gateways: dict[tuple[str, str], GatewayState] = {}
        self._offline_after_s = offline_after_s or {}  # (site, gateway): from the registry
        self._started_ms: int | None = None
        self._lock = threading.Lock()

    def state(self, site: str, gateway: str) -> GatewayState:
        key = (site, gateway)
        found = self._gateways.get(key)
        if found is None:
            found = self._gateways[key] = GatewayState()
        return found

    def seed(self, site: str, gateway: str, *, lost_messages: int, online: bool | None) -> None:
        """Carry the cumulative count (and online state) over from the store at start."""
        gw = self.state(site, gateway)
        gw.lost_messages = lost_messages
        gw.online = online

    def boot_jump(self, site: str, gateway: str, boot: int) -> bool:
        """Would `boot` be a jump beyond this gateway's last known boot (not adopted)?"""
        found = self._gateways.get((site, gateway))
        return boot_jump(found.boot if found is not None else None, boot)

    def observe(self, site: str, gateway: str, boot: int, seq: int, ts_ms: int) -> Observation:
        """A telemetry message arrived at `ts_ms` (the receiving clock)."""
        with self._lock:
            return self._observe(site, gateway, boot, seq, ts_ms)

    def _observe(self, site: str, gateway: str, boot: int, seq: int, ts_ms: int) -> Observation:
        gw = self.state(site, gateway)
        gw.last_rx_ms = ts_ms
        came_back = gw.online is not True  # offline before, or not known yet: a change
        gw.online = True  # it is delivering, whatever a will said before
        lost = 0
        rebooted = False
        if gw.boot is None:
            gw.boot, gw.last_seq = boot, seq
        elif boot > gw.boot:
            rebooted = True
            lost = seq
            gw.boot, gw.last_seq = boot, seq
        elif boot < gw.boot:
            pass  # a late message of an earlier boot
        elif seq > gw.last_seq:
            lost = seq - gw.last_seq - 1
            gw.last_seq = seq
        gw.lost_messages = add_lost(gw.lost_messages, lost)
        changed = lost > 0 or rebooted or came_back
        status = self.status_point(site, gateway, ts_ms) if changed else None
        return Observation(lost, rebooted, status)

    def set_online(
        self, site: str, gateway: str, online: bool, boot: int, ts_ms: int
    ) -> Observation:
        """A state message (docs/contract.md §2): online or not, and the gateway's boot."""
        with self._lock:
            gw = self.state(site, gateway)
            gw.online = online
            rebooted = gw.boot is not None and boot > gw.boot
            if rebooted:
                gw.boot, gw.last_seq = boot, -1  # the new boot's first message is seq 0
            return Observation(0, rebooted, self.status_point(site, gateway, ts_ms))

    def use_offline_after(self, offline_after_s: dict[tuple[str, str], float]) -> None:
        """The registry's gateways and their offline delays, changed while running."""
        with self._lock:
            self._offline_after_s = dict(offline_after_s)

    def silence(self, now_ms: int) -> list[Point]:
        """`gateway_status` points (online false) for the registry's gateways that went
        silent: no telemetry for their `offline_after_s`, measured from the last
        arrival or ingest's first call here, whichever is later."""
        points: list[Point] = []
        with self._lock:
            if self._started_ms is None:
                self._started_ms = now_ms
            for (site, gateway), after_s in self._offline_after_s.items():
                gw = self.state(site, gateway)
                if gw.online is False:
                    continue
                since = max(gw.last_rx_ms or 0, self._started_ms)
                if now_ms - since >= after_s * 1000:
                    gw.online = False
                    points.append(self.status_point(site, gateway, now_ms, silent_since_ms=since))
        return points

    def status_point(
        self, site: str, gateway: str, ts_ms: int, *, silent_since_ms: int | None = None
    ) -> Point:
        """The gateway's `gateway_status` point; one written for silence carries
        `silent_since_ms`, the arrival it has been silent since (or ingest's start)."""
        gw = self.state(site, gateway)
        online = True if gw.online is None else gw.online  # it is sending, so it is online
        fields: dict[str, bool | int] = {"online": online, "lost_messages": gw.lost_messages}
        if silent_since_ms is not None:
            fields["silent_since_ms"] = silent_since_ms
        return Point("gateway_status", {"site": site, "gateway": gateway}, fields, ts_ms)
