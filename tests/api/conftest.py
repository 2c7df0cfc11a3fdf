"""The API over the FakeDesk and an in-memory store, on the bundled demo plant.

The demo plant's tokens are "demo-<role>" (hazmon/demo/plant.yaml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.testing import FakeDesk
from hazmon.config import load_registry
from hazmon.registry import Registry
from hazmon.wire import Reading
from stores.base import Latest, Point, Row, Store

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
ROLES = ("viewer", "operator", "engineer", "auditor", "admin")


def token(role: str) -> str:
    return f"demo-{role}"


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


class ListStore(Store):
    """The smallest Store that answers the API's reads (for the API's own tests)."""

    def __init__(self) -> None:
        self.rows: list[Reading] = []
        self.point_rows: list[Point] = []

    def write_readings(self, readings: Sequence[Reading]) -> None:
        self.rows.extend(readings)

    def write_points(self, points: Sequence[Point]) -> None:
        self.point_rows.extend(points)

    def latest(self, site: str) -> list[Latest]:
        newest: dict[str, Reading] = {}
        for r in self.rows:
            if r.site == site and (r.sensor not in newest or r.ts_ms >= newest[r.sensor].ts_ms):
                newest[r.sensor] = r
        return [_latest(r) for r in newest.values()]

    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int = 10_000
    ) -> list[Latest]:
        rows = [r for r in self.rows if (r.site, r.sensor) == (site, sensor)]
        rows = sorted((r for r in rows if from_ms <= r.ts_ms <= to_ms), key=lambda r: r.ts_ms)
        return [_latest(r) for r in rows[:limit]]

    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        want = dict(tags or {})
        rows = [
            Row(p.ts_ms, dict(p.tags), dict(p.fields))
            for p in self.point_rows
            if p.measurement == measurement
            and from_ms <= p.ts_ms <= to_ms
            and all(p.tags.get(k) == v for k, v in want.items())
        ]
        return sorted(rows, key=lambda r: -r.ts_ms)[:limit]

    def count_readings(self) -> int:
        return len(self.rows)


def _latest(r: Reading) -> Latest:
    return Latest(
        r.site, r.gateway, r.sensor, r.kind, r.ts_ms, r.value, r.state, r.quality, r.over_range
    )


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(DEMO_PLANT)


@pytest.fixture
def desk(registry: Registry) -> FakeDesk:
    return FakeDesk(registry)


@pytest.fixture
def store() -> ListStore:
    return ListStore()


@pytest.fixture
def app(registry: Registry, desk: FakeDesk, store: ListStore) -> FastAPI:
    return create_app(
        registry=registry,
        desk=desk,
        store=store,
        metrics=[],
        health=lambda: {"broker": True, "store": True},
        keepalive_s=0.5,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
        yield c
