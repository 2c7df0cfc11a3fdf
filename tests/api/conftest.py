"""The API over the in-memory desk on the real alarm engine (a `DrivenDesk`: readings
in, on a hand-turned clock) and the MemoryStore, on the bundled demo plant.

The demo plant's tokens are "demo-<role>" (hazmon/demo/plant.yaml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk
from hazmon.contract.config import load_registry
from hazmon.contract.registry import Registry
from hazmon.stores.memory import MemoryStore

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
ROLES = ("viewer", "operator", "engineer", "auditor", "admin", "inspector")


def token(role: str) -> str:
    return f"demo-{role}"


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role)}"}


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(DEMO_PLANT)


@pytest.fixture
def desk(registry: Registry) -> DrivenDesk:
    return DrivenDesk(registry)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def app(registry: Registry, desk: DrivenDesk, store: MemoryStore) -> FastAPI:
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
