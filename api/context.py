"""What the routes work with, kept on the app: registry, desk, store, metrics, health.

The desk (hazmon.alarms.desk.Desk) is the alarm service's (`AlarmService.desk`) when
the API runs in `hazmon up`, and a `ClusterDesk` (hazmon.alarms.cluster_desk) on
JetStream (`hazmon api`, `hazmon up --embedded-broker nats`).

Threading: the alarm service evaluates readings on its link's thread and runs its
clock in a worker thread, not on the event loop (docs/architecture.md, "The threads
of each service"); the desk's lock keeps evaluation, the service clock and operator
actions apart. Routes read the desk from `async def` handlers, on the loop thread
(reads take the lock for milliseconds). Operator actions (`act`) run in a worker
thread: a desk answers once the action is committed, and on JetStream that means
waiting for the partition's owner, which in `hazmon up` is served by this very event
loop. Store reads, the journal export and its verification are blocking file or
network work: they run in worker threads too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.core.inputs import OperatorInput
from hazmon.alarms.desk import Desk
from hazmon.api.auth import Principal
from hazmon.api.errors import NotFound
from hazmon.contract.registry import Gateway, Registry, Sensor, Site
from hazmon.feeds.reading import FeedSummaries
from hazmon.stores.base import Store


async def act(desk: Desk, inp: OperatorInput) -> dict[str, Any]:
    """One operator input, in a worker thread (see the module's docstring)."""
    return await run_in_threadpool(desk.act, inp)


@dataclass(slots=True)
class ApiContext:
    registry: Registry
    desk: Desk
    store: Store
    metrics: list[CollectorRegistry]
    health: Callable[[], dict[str, Any]]
    chain: Callable[[], dict[str, Any]] | None = None  # the chain watch's state, if one runs
    keepalive_s: float = 15.0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    reloaded: asyncio.Event = field(default_factory=asyncio.Event)  # set, then replaced
    feeds: FeedSummaries = field(default_factory=lambda: FeedSummaries(clock_s=time.monotonic))
    _sensors: dict[tuple[str, str], tuple[Gateway, Sensor]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for site, gateway, sensor in self.registry.sensors():
            self._sensors[(site.id, sensor.id)] = (gateway, sensor)

    def site(self, site_id: str, principal: Principal) -> Site:
        """The site, if the caller's scope holds it; else the same 404 as for a site
        that does not exist (another scope's sites are not enumerable)."""
        site = self.registry.site(site_id)
        if site is None or not principal.sees(site_id):
            raise NotFound(f"no site {site_id!r} in the registry")
        return site

    def sensor(
        self, site_id: str, sensor_id: str, principal: Principal
    ) -> tuple[Gateway, Sensor]:
        self.site(site_id, principal)
        found = self._sensors.get((site_id, sensor_id))
        if found is None:
            raise NotFound(f"no sensor {sensor_id!r} at site {site_id!r}")
        return found

    def sites(self, principal: Principal) -> list[Site]:
        """The registry's sites in the caller's scope, in registry order."""
        return [s for s in self.registry.sites if principal.sees(s.id)]

    def use_registry(self, registry: Registry) -> None:
        """Serve `registry` from now on (a reload: sites, sensors, tokens)."""
        sensors = {(s.id, x.id): (g, x) for s, g, x in registry.sensors()}
        self.registry = registry
        self._sensors = sensors

    def wake_streams(self) -> None:
        """Wake every open stream (after a reload: each checks its token again)."""
        woken, self.reloaded = self.reloaded, asyncio.Event()
        woken.set()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
