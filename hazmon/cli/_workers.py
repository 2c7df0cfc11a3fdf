"""`hazmon alarms --broker nats://...`: an alarm worker of a JetStream cluster
(docs/scale-out.md). Any number of them share the plant's partitions; each partition
has one owner at a time. The store is the one `--influx` names (else the embedded one
in `--data`); the NATS user and password are `HAZMON_MQTT_USERNAME` and
`HAZMON_MQTT_PASSWORD[_FILE]` (cluster-config writes `hazmon-alarms`); the streams'
budget and partition count from `HAZMON_STREAMS_FILE` (cluster-config's streams.json),
else `--partitions` and no budget."""

from __future__ import annotations

import asyncio
import logging

from hazmon.cli._process import run as run_process
from hazmon.cli._process import setup_logging, stop_on_signals, supervise
from hazmon.contract.registry import Registry
from hazmon.contract.settings import Settings, parse_nats_url

log = logging.getLogger("hazmon")


def start_workers(
    settings: Settings, registry: Registry, *, partitions: int, worker_id: str | None,
    snapshot_every: int, log_level: str,
) -> None:
    from hazmon.runtime.private import private_files
    from hazmon.runtime.process import raise_open_files_limit

    setup_logging(log_level)
    private_files()
    raise_open_files_limit()
    run_process(lambda: _run(settings, registry, partitions, worker_id, snapshot_every),
                command="hazmon alarms")


async def _run(
    settings: Settings, registry: Registry, partitions: int, worker_id: str | None,
    snapshot_every: int,
) -> None:
    from hazmon.alarms.workers import AlarmWorkers
    from hazmon.bus.jetstream import default_plan, load_plan
    from hazmon.runtime.private import private_dir
    from hazmon.stores import open_store

    assert settings.broker is not None
    servers = parse_nats_url(settings.broker).servers
    stop = stop_on_signals()
    private_dir(settings.data)
    store = await asyncio.to_thread(
        open_store, influx=settings.influx, data_dir=settings.data, settings=settings
    )
    try:
        workers = AlarmWorkers(
            registry=registry, servers=servers, settings=settings, store=store,
            data_dir=settings.data, worker_id=worker_id,
            plan=load_plan(settings.streams_file, servers=len(servers))
            if settings.streams_file is not None
            else default_plan(len(servers), partitions),
            user=settings.mqtt_username, password=settings.mqtt_secret(),
            snapshot_every=snapshot_every,
        )
        await supervise([("alarm workers", workers)], stop)
    finally:
        store.close()
    log.info("stopped")
