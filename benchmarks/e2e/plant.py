"""The benchmark plant: `gateways` x `sensors_per_gateway` gas detectors, ten gateways
to a site (as the project's load generator lays out its plant, simulators/loadplant.py):
200 x 50 is 20 sites of 500 detectors.

Every sensor is a combustible gas detector in %LEL with the default thresholds of
docs/alarms.md (high 25, high_high 50) and a deadband of 2, so a reading of 30 raises
`high` and a reading of 10 clears it (high is not latched; high_high, never reached,
would be). Delays are 0: an alarm is raised by the reading that crosses, which is what
the latency figure measures.

A separate site `bench-probe` with one gateway `gw-probe` and one sensor carries the
readiness probe (a reading published until it is stored and its alarm raised, proving
the whole path works before a phase starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROBE_SITE = "bench-probe"
PROBE_GATEWAY = "gw-probe"
PROBE_SENSOR = "PROBE-1"
KIND = "combustible_gas"
HIGH = 25.0
DEADBAND = 2.0
ABOVE = 30.0  # raises `high`
BELOW = 10.0  # clears it (below HIGH - DEADBAND)


@dataclass(frozen=True, slots=True)
class Plant:
    gateways: int
    sensors_per_gateway: int
    period_s: float = 1.0
    gateways_per_site: int = 10

    @property
    def sensors(self) -> int:
        return self.gateways * self.sensors_per_gateway

    def site_id(self, g: int) -> str:
        return f"bench-{g // self.gateways_per_site + 1:03d}"

    def gateway_id(self, g: int) -> str:
        return f"gw-{g:04d}"

    def sensor_id(self, g: int, s: int) -> str:
        return f"GT-{g:04d}-{s:03d}"

    def crossing_sites(self, every: int) -> set[str]:
        """Sites with a sensor that crosses the threshold (load.py: sensor s of gateway g
        crosses when (g + s) % every == 0)."""
        return {
            self.site_id(g)
            for g in range(self.gateways)
            if every > 0 and any((g + s) % every == 0 for s in range(self.sensors_per_gateway))
        }

    def sensor_kinds(self) -> dict[str, str]:
        """`site/sensor` -> kind, for the Node-RED function node."""
        kinds = {
            f"{self.site_id(g)}/{self.sensor_id(g, s)}": KIND
            for g in range(self.gateways)
            for s in range(self.sensors_per_gateway)
        }
        kinds[f"{PROBE_SITE}/{PROBE_SENSOR}"] = KIND
        return kinds

    def registry_yaml(self) -> str:
        sensor = (
            '{{id: {id}, kind: combustible_gas, gas: methane, unit: "%LEL", '
            f"range: [0, 100], deadband: {DEADBAND:g}}}}}"
        )
        lines = ["# Written by benchmarks/e2e/plant.py: the end-to-end benchmark's plant.",
                 "sites:"]
        sites: dict[str, list[int]] = {}
        for g in range(self.gateways):
            sites.setdefault(self.site_id(g), []).append(g)
        for site, members in [*sites.items(), (PROBE_SITE, [-1])]:
            lines += [
                f"  - id: {site}",
                f"    name: benchmark site {site}",
                "    industry: hazardous_chemicals",
                "    location: {lat: 29.079, lon: 119.647}",
                "    gateways:",
            ]
            for g in members:
                if g < 0:
                    lines += [f"      - id: {PROBE_GATEWAY}", "        period_s: 3600",
                              "        sensors:", "          - " + sensor.format(id=PROBE_SENSOR)]
                    continue
                lines += [
                    f"      - id: {self.gateway_id(g)}",
                    f"        period_s: {self.period_s:g}",
                    "        sensors:",
                ]
                lines += [
                    "          - " + sensor.format(id=self.sensor_id(g, s))
                    for s in range(self.sensors_per_gateway)
                ]
        return "\n".join(lines) + "\n"

    def write_registry(self, path: Path) -> Path:
        path.write_text(self.registry_yaml(), encoding="utf-8")
        return path
