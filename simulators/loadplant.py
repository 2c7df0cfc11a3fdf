"""The plant of the load generator: N gateways x M sensors, and its registry YAML.

Gateways are grouped ten to a site (`ld-001`, `ld-002`, ...); each gateway `gw-0001`
carries M combustible gas detectors `GT-0001-0001` ... (unique within the site, as
docs/contract.md §1 requires). `hazmon simulate --write-registry FILE --gateways N --sensors M`
writes the registry so ingest and alarms can load the same plant.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

GATEWAYS_PER_SITE = 10


@dataclass(frozen=True, slots=True)
class LoadGateway:
    site: str
    gateway: str
    sensors: tuple[str, ...]


def layout(gateways: int, sensors: int) -> list[LoadGateway]:
    out = []
    for g in range(gateways):
        site = f"ld-{g // GATEWAYS_PER_SITE + 1:03d}"
        ids = tuple(f"GT-{g + 1:04d}-{j + 1:04d}" for j in range(sensors))
        out.append(LoadGateway(site, f"gw-{g + 1:04d}", ids))
    return out


def period_s(*, sensors: int, rate_hz: float, per_message: int) -> float:
    """How often a gateway publishes: every reading round, or every K readings."""
    return max(1.0 / rate_hz, per_message / (sensors * rate_hz))


def registry_yaml(
    *, gateways: int, sensors: int, rate_hz: float = 1.0, per_message: int = 100
) -> str:
    every_s = round(period_s(sensors=sensors, rate_hz=rate_hz, per_message=per_message), 3)
    sites: dict[str, list[LoadGateway]] = {}
    for gw in layout(gateways, sensors):
        sites.setdefault(gw.site, []).append(gw)
    doc = {
        "sites": [
            {
                "id": site,
                "name": f"load test site {site}",
                "industry": "hazardous_chemicals",
                "location": {"lat": 29.0 + i * 0.01, "lon": 119.6},
                "gateways": [
                    {
                        "id": gw.gateway,
                        "period_s": every_s,
                        "sensors": [
                            {"id": s, "kind": "combustible_gas", "unit": "%LEL", "range": [0, 100]}
                            for s in gw.sensors
                        ],
                    }
                    for gw in members
                ],
            }
            for i, (site, members) in enumerate(sites.items())
        ]
    }
    head = (
        f"# load-generator plant: {gateways} gateways x {sensors} sensors "
        f"(hazmon simulate --write-registry)\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, width=120)
