"""POST /api/v1/replay: the what-if replay of a proposed registry against the one in
force, over the store's readings; engineers only, bad ranges and registries refused
with a clear 4xx."""

from __future__ import annotations

import httpx

from hazmon.contract.wire import Reading
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import DEMO_PLANT, ROLES, bearer

T0 = 1_764_547_200_000
CURRENT = DEMO_PLANT.read_text(encoding="utf-8")
# GT-101 (the first sensor) at 25 %LEL instead of 20 for level 1
PROPOSED = CURRENT.replace("thresholds: {high: 20, high_high: 40}",
                           "thresholds: {high: 25, high_high: 40}", 1)


def body(**change: object) -> dict[str, object]:
    return {"proposed": PROPOSED, "from_ms": T0, "to_ms": T0 + 600_000, **change}


def gas(store: MemoryStore, values: list[float]) -> None:
    store.write_readings([
        Reading("jh-chem-01", "gw-tankfarm", "GT-101", "analog", T0 + i * 1000, v, None,
                "good", False, False)
        for i, v in enumerate(values)
    ])


async def test_the_crossings_a_higher_limit_misses(
    client: httpx.AsyncClient, store: MemoryStore
) -> None:
    gas(store, [5.0] * 10 + [23.0] * 10 + [5.0] * 20)  # over 20 for 10 s, never 25
    answer = await client.post("/api/v1/replay", json=body(site="jh-chem-01"),
                               headers=bearer("engineer"))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["readings"] == 40
    assert report["current"]["sensors"]["jh-chem-01/GT-101"]["raised"] == 1
    assert "jh-chem-01/GT-101" not in report["proposed"]["sensors"]
    assert report["safety"]["missed"] == 1
    missed = report["safety"]["listed"][0]
    assert (missed["key"], missed["outcome"], missed["raised_ms"]) == (
        "jh-chem-01/GT-101/high", "missed", T0 + 12_000)  # the on-delay of 2 s


async def test_only_engineers_may_replay(client: httpx.AsyncClient) -> None:
    for role in ROLES:
        answer = await client.post("/api/v1/replay", json=body(), headers=bearer(role))
        expected = 200 if role in ("engineer", "admin") else 403
        assert answer.status_code == expected, (role, answer.text)


async def test_bad_ranges_and_registries_are_refused(client: httpx.AsyncClient) -> None:
    cases = [
        (body(to_ms=T0), 400, "after"),
        (body(to_ms=T0 - 1), 400, "after"),
        (body(to_ms=T0 + 32 * 86_400_000), 400, "31 days"),
        (body(from_ms=-1), 422, "from_ms"),
        (body(proposed="sites: [}"), 400, "proposed"),
        (body(site="nowhere"), 404, "nowhere"),
        ({"proposed": PROPOSED}, 422, "from_ms"),
    ]
    for sent, status, said in cases:
        answer = await client.post("/api/v1/replay", json=sent, headers=bearer("engineer"))
        assert answer.status_code == status, (sent.get("to_ms"), answer.text)
        assert said in answer.json()["detail"], answer.text
