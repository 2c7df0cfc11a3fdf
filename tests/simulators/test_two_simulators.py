"""Two simulators of the same plant on one broker (the demo's own, and `hazmon simulate
--scenario leak` beside it): each keeps its connections, and the second, stopping,
leaves the first's gateways online."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from hazmon.contract import topics
from hazmon.contract.config import load_registry
from hazmon.testing.mqtt_clients import client
from hazmon.testing.processes import Child
from hazmon.testing.servers import Mosquitto

pytestmark = pytest.mark.integration

HAZMON = Path(sys.executable).parent / "hazmon"
GATEWAYS = 14  # the demo plant's
DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"


def simulate(broker: Mosquitto, scenario: str, seconds: int, log: Path) -> Child:
    return Child([str(HAZMON), "simulate", "--broker", broker.url, "--scenario", scenario,
                  "--duration", str(seconds)], log=log, name=f"simulate {scenario}").start()


def online_states(broker: Mosquitto) -> dict[str, bool]:
    """The retained state of each of the demo plant's gateways (the session broker also
    holds other tests' gateways)."""
    registry = load_registry(DEMO_PLANT)
    ours = {topics.state(site.id, gateway.id)
            for site in registry.sites for gateway in site.gateways}
    with client(broker.port) as c:
        c.connect()
        c.subscribe(topics.STATE_WILDCARD)
        return {m.topic: orjson.loads(m.payload)["online"] for m in c.received()
                if m.topic in ours}


def test_a_second_simulator_takes_no_connection_and_leaves_the_first_online(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    log_start = mosquitto.log_path.stat().st_size
    first = simulate(mosquitto, "normal", 30, first_log)
    try:
        first.wait_output(": connected", count=GATEWAYS)
        second = simulate(mosquitto, "leak", 8, second_log)
        assert second.wait(timeout_s=60) == 0, second.output()
        states = online_states(mosquitto)  # the first still runs
    finally:
        first.stop()
    first_out, second_out = first.output(), second.output()
    for out in (first_out, second_out):
        assert "connection lost" not in out
    assert "already online" in second_out and "jh-chem-01/gw-tankfarm" in second_out
    assert f"{GATEWAYS} gateways of this plant are already online" in second_out
    assert len(states) == GATEWAYS and all(states.values()), states
    broker_log = mosquitto.log_path.read_text(errors="replace")[log_start:]
    assert "already connected, closing old connection" not in broker_log
