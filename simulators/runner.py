"""Simulated gateways on MQTT: each gateway of the registry is one MQTT connection
with its own will message, publishing the simulated plant's telemetry (QoS 1).

    stop = asyncio.Event()
    await run_simulation(registry=reg, broker=parse_broker_url(url), settings=Settings(),
                         scenario="demo", rate_hz=1.0, seed=7, stop=stop)

A gateway that loses power in the scenario drops its connection without DISCONNECT
(the broker publishes its will: offline), and comes back with the next boot.

Client ids carry a token of this run (`hazmon-sim-{site}-{gateway}-{run}`), so that a
second simulator of the same plant never takes over the connections of a running one
(the demo's). A gateway that is already online when the run starts (its retained state
says so: another simulator, or the gateway itself) is joined as a guest: this run adds
its readings but sets no will and publishes no online or offline state for it, so that
stopping this run leaves the other publisher's gateway online.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import orjson

from hazmon.bus.backoff import Backoff
from hazmon.bus.mqtt import MqttError, MqttOptions, Will, close_client, connect
from hazmon.bus.uplink import Uplink
from hazmon.contract import topics
from hazmon.contract.registry import Registry
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.simulators.plant import GatewayTick, PlantSimulator, wall_ms

log = logging.getLogger(__name__)

# Short: a broker that ignores an MQTT 5 CONNECT (amqtt, the demo's embedded broker)
# costs this long before the 3.1.1 attempt.
CONNECT_TIMEOUT_S = 2.0
ONLINE_WAIT_S = 0.5  # how long the retained states of the plant's gateways are read


@dataclass(slots=True)
class RunStats:
    ticks: int = 0
    messages: int = 0
    readings: int = 0
    not_sent: int = 0  # a tick while the gateway was not connected
    acked: int = 0


class SimulatedGateway:
    """One gateway's MQTT connection: will, online state, telemetry with boot and seq."""

    def __init__(
        self,
        site: str,
        gateway: str,
        *,
        broker: BrokerAddress,
        settings: Settings | None,
        stats: RunStats,
        reconnect_max_s: float = 5.0,
        executor: Executor | None = None,
        run_id: str = "",
        guest: bool = False,
    ) -> None:
        self.site, self.gateway = site, gateway
        self.run_id = run_id or new_run_id()
        self.guest = guest  # another publisher has this gateway online: no will, no state
        self._broker, self._settings, self._stats = broker, settings, stats
        self._reconnect_max_s = reconnect_max_s
        self._executor = executor
        self.boot = -1
        self.seq = 0
        self.uplink: Uplink | None = None
        self._connecting: asyncio.Task[bool] | None = None

    def power_on(self, boot: int, stop: asyncio.Event) -> None:
        """Boot: a new connection whose will carries this boot."""
        self.boot, self.seq = boot, 0
        state_topic = topics.state(self.site, self.gateway)
        opts = MqttOptions.build(
            self._broker,
            self._settings,
            client_id=f"hazmon-sim-{self.site}-{self.gateway}-{self.run_id}",
            clean_start=True,
        )
        will = Will(state_topic, orjson.dumps({"online": False, "boot": boot}))
        self.uplink = Uplink(
            opts=opts,
            will=None if self.guest else will,
            backoff=Backoff(min_s=0.5, max_s=self._reconnect_max_s),
            on_ack=self._acked,
            on_connected=self._connected,
            executor=self._executor,
            connect_timeout_s=CONNECT_TIMEOUT_S,
        )
        self._connecting = asyncio.create_task(
            self.uplink.connect(stop), name=f"connect {self.gateway}"
        )

    def power_off(self) -> None:
        """Power loss: no DISCONNECT, no offline message; the broker sends the will."""
        if self._connecting is not None:
            self._connecting.cancel()
        if self.uplink is not None:
            self.uplink.kill()
            self.uplink = None
        log.info("simulated gateway %s/%s lost power", self.site, self.gateway)

    def publish(self, readings: list[dict[str, object]], sent_ms: int) -> None:
        if self.uplink is None or not self.uplink.connected:
            self._stats.not_sent += 1
            return
        batch = {
            "boot": self.boot,
            "seq": self.seq,
            "sent_ms": sent_ms,
            "historical": False,
            "readings": readings,
        }
        if (
            self.uplink.publish(topics.telemetry(self.site, self.gateway), orjson.dumps(batch))
            is None
        ):
            self._stats.not_sent += 1
            return
        self.seq += 1
        self._stats.messages += 1
        self._stats.readings += len(readings)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self.uplink is not None and self.uplink.connected and not self.guest:
            self._publish_state(online=False)
        if self.uplink is not None:
            await self.uplink.close()

    def _connected(self, up: bool) -> None:
        if up and not self.guest:
            self._publish_state(online=True)

    def _publish_state(self, *, online: bool) -> None:
        assert self.uplink is not None
        state = {"online": online, "boot": self.boot, "ts_ms": wall_ms()}
        self.uplink.publish(topics.state(self.site, self.gateway), orjson.dumps(state), retain=True)

    def _acked(self, mid: int, ok: bool) -> None:
        self._stats.acked += 1


async def run_simulation(
    *,
    registry: Registry,
    broker: BrokerAddress,
    settings: Settings | None,
    scenario: str,
    rate_hz: float,
    seed: int,
    stop: asyncio.Event,
    speed: float = 1.0,
    reconnect_max_s: float = 5.0,
) -> RunStats:
    """Publish the simulated plant until `stop` is set; every gateway every 1/rate_hz s."""
    stats = RunStats()
    sim = PlantSimulator(registry, seed=seed, scenario=scenario, speed=speed)
    for line in sim.scenario.timeline:
        log.info("scenario %s: %s", scenario, line)
    pairs = [(s.id, g.id) for s in registry.sites for g in s.gateways]
    run_id = new_run_id()
    online = await asyncio.to_thread(online_gateways, broker, settings, set(pairs))
    if online:
        log.warning(
            "%d gateways of this plant are already online (another simulator, such as "
            "hazmon demo's, or the gateways themselves): %s. This run (client ids "
            "hazmon-sim-...-%s) adds its readings to theirs without taking their "
            "connections, and leaves their online state alone",
            len(online), ", ".join(f"{s}/{g}" for s, g in sorted(online)), run_id,
        )
    # Every gateway connects at once: a connect blocks a thread (an MQTT 5 attempt that
    # a 3.1.1-only broker leaves unanswered waits for its timeout).
    executor = ThreadPoolExecutor(max_workers=len(pairs), thread_name_prefix="sim-connect")
    gateways = {
        (site, gw): SimulatedGateway(
            site,
            gw,
            broker=broker,
            settings=settings,
            stats=stats,
            reconnect_max_s=reconnect_max_s,
            executor=executor,
            run_id=run_id,
            guest=(site, gw) in online,
        )
        for site, gw in pairs
    }
    try:
        await _tick_loop(sim, gateways, rate_hz=rate_hz, stop=stop, stats=stats)
    finally:
        await asyncio.gather(*(g.close() for g in gateways.values()))
        executor.shutdown(wait=False, cancel_futures=True)
    return stats


def new_run_id() -> str:
    """A short token unique to this run, part of every client id it uses."""
    return uuid.uuid4().hex[:6]


def online_gateways(
    broker: BrokerAddress, settings: Settings | None, pairs: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The gateways among `pairs` whose retained state says online (empty if the
    broker cannot be asked: this run then owns every gateway, as before)."""
    found: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def on_message(_c: object, _u: object, msg: object) -> None:
        try:
            parts = str(getattr(msg, "topic", "")).split("/")
            online = orjson.loads(getattr(msg, "payload", b"")).get("online") is True
        except (orjson.JSONDecodeError, AttributeError, UnicodeDecodeError):
            return  # not a state message hazmon reads
        if len(parts) == 5 and online and (parts[2], parts[3]) in pairs:
            with lock:
                found.add((parts[2], parts[3]))

    opts = MqttOptions.build(broker, settings, client_id="", clean_start=True)
    try:
        client, _protocol = connect(opts, timeout_s=CONNECT_TIMEOUT_S, attempts=1,
                                    on_message=on_message)
    except MqttError:
        return set()
    try:
        client.subscribe(topics.STATE_WILDCARD, qos=1)
        time.sleep(ONLINE_WAIT_S)
    finally:
        close_client(client)
    with lock:
        return set(found)


async def _tick_loop(
    sim: PlantSimulator,
    gateways: dict[tuple[str, str], SimulatedGateway],
    *,
    rate_hz: float,
    stop: asyncio.Event,
    stats: RunStats,
) -> None:
    """Tick on a fixed grid from the start (timestamps do not drift with the load)."""
    interval_ms = 1000.0 / rate_hz
    k = 0
    while not stop.is_set():
        due_ms = sim.start_ms + round(k * interval_ms)
        for tick in sim.tick(due_ms):
            _apply(gateways[(tick.site, tick.gateway)], tick, due_ms, stop)
        stats.ticks += 1
        k += 1
        wait_s = (sim.start_ms + round(k * interval_ms) - wall_ms()) / 1000.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, wait_s)):
                await stop.wait()


def _apply(gw: SimulatedGateway, tick: GatewayTick, now_ms: int, stop: asyncio.Event) -> None:
    if not tick.powered:
        if gw.uplink is not None:
            gw.power_off()
        return
    if gw.uplink is None or tick.boot != gw.boot:
        gw.power_on(tick.boot, stop)
    gw.publish(tick.readings, now_ms)
