"""No I/O error of a background writer ends the alarm service: with EMFILE or ENOSPC
injected into each periodic writer of a real running service (real Mosquitto and
InfluxDB), it goes on evaluating readings and raises a system alarm, which clears
once the writer works again. Also: the retention job and the ingest writer report
their faults the same way, and services raise their open-files soft limit."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hazmon.alarms.core.inputs import Ack
from hazmon.alarms.journal import anchors
from hazmon.alarms.notifiers import MemoryNotifier
from hazmon.alarms.service import AlarmService, Timing
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.runtime.faults import Faults
from hazmon.runtime.process import raise_open_files_limit
from hazmon.stores.influx import InfluxStore
from hazmon.stores.retention import retention_job
from hazmon.stores.sqlite import SqliteStore
from hazmon.testing.mqtt_clients import Check, subscriber
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.alarms.mqtt_helpers import publish, publisher, started, stopped
from tests.alarms.plant import small_registry_text

pytestmark = pytest.mark.integration
SYSTEM_ALARMS = "hazmon/v1/_system/alarms"
ERRNOS = [errno.EMFILE, errno.ENOSPC]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def io_error(code: int) -> Callable[..., Any]:
    def fail(*_a: Any, **_k: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


async def fail_async(*_a: Any, **_k: Any) -> None:
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


def inject(service: AlarmService, writer: str, code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the writer's write function raise OSError(code)."""
    if writer == "anchor-file":
        monkeypatch.setattr(anchors, "write_file", io_error(code))
    elif writer == "store":
        monkeypatch.setattr(service.store, "write_points", io_error(code))
    elif writer == "clock":  # the commit of what the service clock changed
        monkeypatch.setattr(service.desk, "tick", io_error(code))
    elif writer == "group-commit":  # the commit of quiet messages
        monkeypatch.setattr(service, "_flush_waiting", io_error(code))
    elif writer == "outbox":
        monkeypatch.setattr(service.desk.db, "outbox", io_error(code))
    elif writer == "notify-journal":  # the journal entry of a delivery attempt
        monkeypatch.setattr(service.desk, "record_outcome", io_error(code))
    elif writer == "evaluation":  # the commit of what a socket read's messages caused
        monkeypatch.setattr(service, "_process", io_error(code))
    elif writer == "publish":  # alarm events, grades, the journal head on MQTT
        assert service._link is not None
        monkeypatch.setattr(service._link, "publish", io_error(code))
    else:
        raise ValueError(writer)


def is_system(event: str, condition: str) -> Check:
    return lambda m: (m.topic == SYSTEM_ALARMS and m.doc["event"] == event
                      and m.doc["condition"] == condition)


@pytest.fixture
def service(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, unique_id: str, tmp_path: Path
) -> Iterator[AlarmService]:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    made = AlarmService(
        registry=parse_registry(small_registry_text(unique_id)),
        broker=parse_broker_url(mosquitto.url), settings=Settings(), store=store,
        data_dir=tmp_path, client_id=f"alarms-{unique_id}",
        timing=Timing(tick_s=0.1, anchor_s=0.2, outbox_sweep_s=0.2, store_retry_s=0.2,
                      store_linger_s=0.05),
        notifiers={"duty": MemoryNotifier(), "lead": MemoryNotifier()},
    )
    yield made
    made.close()
    store.close()




async def still_evaluates(
    service: AlarmService, site: str, seq: int, *, failing: bool = False
) -> None:
    """A reading goes in, its alarm is journalled (`failing`: just send it)."""
    pub = publisher(int(str(service.broker.port)))
    before = service.desk.db.head.seq
    value = 55.0 if seq % 2 == 0 else 1.0
    batch = {"boot": 1, "seq": seq, "readings": [
        {"sensor": "GT-1", "ts_ms": now_ms(), "value": value}]}
    await asyncio.to_thread(publish, pub, f"hazmon/v1/{site}/gw1/telemetry", batch)
    pub.disconnect()
    if failing:
        return
    for _ in range(200):
        found = service.desk.db.head.seq > before and any(
            a["key"] == f"{site}/GT-1/high_high" for a in service.desk.alarms(site=site))
        if found:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the reading was not evaluated")


@pytest.mark.parametrize("code", ERRNOS, ids=errno.errorcode.get)
@pytest.mark.parametrize(
    "writer",
    ["anchor-file", "store", "clock", "group-commit", "outbox", "publish", "evaluation",
     "notify-journal"])
async def test_an_io_error_in_a_background_writer_raises_a_system_alarm_and_nothing_stops(
    service: AlarmService, mosquitto: Mosquitto, unique_id: str, writer: str, code: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = subscriber(mosquitto.port, SYSTEM_ALARMS)
    task = await started(service)
    try:
        with monkeypatch.context() as patch:
            inject(service, writer, code, patch)
            if writer in ("store", "evaluation", "notify-journal"):  # gives them work
                await still_evaluates(service, unique_id, 0, failing=writer == "evaluation")
            key = f"_system/alarms/{writer}"
            for _ in range(100):
                if any(a["key"] == key for a in service.desk.alarms(site="_system", active=True)):
                    break
                await asyncio.sleep(0.05)
            raised = [a for a in service.desk.alarms(site="_system", active=True)
                      if a["key"] == key]
            assert raised, f"no system alarm for {writer}"
            assert errno.errorcode[code] in raised[0]["note"]
            assert raised[0]["priority"] == "high" and raised[0]["state"] == "unack"
            if writer != "publish":
                got = (await recorder.until(is_system("raised", writer)))[0].doc
                assert got["alarm_id"] == raised[0]["alarm_id"]
            if writer != "evaluation":
                await still_evaluates(service, unique_id, 2)
            await asyncio.sleep(0.5)  # several periods of failing
            assert not task.done()
        # the writer works again: the system alarm clears
        await still_evaluates(service, unique_id, 4)
        await recorder.until(is_system("cleared", writer))
        # as a process alarm: returned, it waits for an acknowledgement
        [back] = [a for a in service.desk.alarms(site="_system", active=True) if a["key"] == key]
        assert back["state"] == "rtn_unack"
        acked = await asyncio.to_thread(
            service.desk.act, Ack(alarm_id=back["alarm_id"], user="duty.tester", note="seen"))
        assert acked["state"] == "normal" and acked["acked_by"] == "duty.tester"
        assert not [a for a in service.desk.alarms(site="_system", active=True) if a["key"] == key]
        assert not task.done()
        # the first tier of its priority (high: duty) was told when it was raised
        duty = service._dispatcher.notifiers["duty"] if service._dispatcher else None
        assert isinstance(duty, MemoryNotifier)
        for _ in range(100):
            told = [r.payload["event"] for r in duty.received if r.key == key]
            if told == ["raised"]:
                break
            await asyncio.sleep(0.05)
        assert told == ["raised"]
    finally:
        await stopped(task)
        recorder.close()
    verification = service.desk.journal_verify()
    assert verification["ok"], verification
    journal = [r for r in _journal_keys(service) if r[0] == key]
    assert [r[1] for r in journal] == ["raised", "cleared", "acked"]


def still_failing(service: AlarmService) -> list[dict[str, Any]]:
    """System alarms whose source still fails: those cleared wait, returned
    (rtn_unack), for an acknowledgement."""
    return [a for a in service.desk.alarms(site="_system", active=True)
            if a["state"] != "rtn_unack"]


def _journal_keys(service: AlarmService) -> list[tuple[str, str]]:
    from hazmon.alarms import state_db as db
    from hazmon.alarms.journal import chain as journal

    conn = db.connect(service.desk.db.path, readonly=True)
    try:
        return [(r["key"], r["event"]) for r in journal.rows(conn)]
    finally:
        conn.close()


async def test_a_failing_retention_job_goes_on_and_raises_a_system_alarm(
    service: AlarmService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults()
    service.faults = faults
    sqlite = SqliteStore(tmp_path / "readings.sqlite")
    calls: list[int] = []

    def prune(*, before_ms: int) -> int:
        calls.append(before_ms)
        if len(calls) <= 3:
            raise OSError(errno.ENOSPC if len(calls) % 2 else errno.EMFILE, "injected")
        return 0

    monkeypatch.setattr(sqlite, "prune", prune)
    keep = retention_job(sqlite, 1, every_s=0.2, faults=faults)
    assert keep is not None
    task = await started(service)
    job = asyncio.create_task(keep())
    try:
        for _ in range(100):
            if any(a["key"] == "_system/store/retention"
                   for a in service.desk.alarms(site="_system", active=True)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no system alarm for the retention job")
        for _ in range(100):
            if len(calls) > 3 and not still_failing(service):
                break
            await asyncio.sleep(0.05)
        assert len(calls) > 3 and not job.done()
        assert not still_failing(service)  # cleared
    finally:
        job.cancel()
        await stopped(task)
        sqlite.close()


def test_faults_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    faults = Faults(log_every_s=60, clock=lambda: clock[0])
    for i in range(10_000):
        clock[0] = i * 0.01  # 100 failures a second for 100 s
        faults.failed("alarms/anchor-file", OSError(errno.EMFILE, "Too many open files"))
    lines = [r for r in caplog.records if "anchor-file" in r.getMessage()]
    assert len(lines) == 2  # the first, then one a minute
    assert "EMFILE" in lines[0].getMessage()
    assert "still failing" in lines[1].getMessage()
    detail = "OSError EMFILE: [Errno 24] Too many open files"
    assert faults.active() == {"alarms/anchor-file": detail}
    faults.ok("alarms/anchor-file")
    assert faults.active() == {}


async def test_the_service_raises_its_open_files_soft_limit_to_the_hard_limit(
    service: AlarmService,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = 512
    if hard != resource.RLIM_INFINITY and hard <= lowered:
        pytest.fail(f"the hard limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        task = await started(service)
        try:
            now_soft, now_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            assert now_hard == hard and now_soft > lowered
            assert now_soft == (hard if hard != resource.RLIM_INFINITY else now_soft)
        finally:
            await stopped(task)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_raising_the_open_files_limit_in_a_fresh_process() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from hazmon.runtime.process import raise_open_files_limit\n"
        "print(raise_open_files_limit() == resource.getrlimit(resource.RLIMIT_NOFILE),"
        " resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["True", "True"], out.stderr
    assert raise_open_files_limit()[0] >= 256


async def test_ingest_writer_io_errors_are_retried_and_raised_as_system_alarms(
    service: AlarmService, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str,
    unique_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`hazmon up`: ingest and the alarm service share the process's faults. The store
    write fails with EMFILE and the spool with ENOSPC: ingest keeps the batch and tries
    again, both faults are system alarms, and once the disk and descriptors are back
    the reading is stored and the alarms clear."""
    from hazmon.ingest.service import IngestService, IngestTuning
    from hazmon.runtime.faults import PROCESS

    service.faults = PROCESS
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    ingest = IngestService(
        registry=service.desk.registry, broker=service.broker, settings=Settings(), store=store,
        data_dir=tmp_path / "ingest", client_id=f"ingest-{unique_id}",
        tuning=IngestTuning(flush_interval_s=0.1),
    )
    alarms = await started(service)
    ingest_ready = asyncio.Event()
    ingesting = asyncio.create_task(ingest.run(ready=ingest_ready))
    await asyncio.wait_for(ingest_ready.wait(), 20)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(store, "write_packed", io_error(errno.EMFILE))
            assert ingest.spool is not None
            patch.setattr(ingest.spool, "append", io_error(errno.ENOSPC))
            await still_evaluates(service, unique_id, 0)
            wanted = {"_system/ingest/store", "_system/ingest/spool"}
            for _ in range(100):
                keys = {a["key"] for a in service.desk.alarms(site="_system", active=True)}
                if wanted <= keys:
                    break
                await asyncio.sleep(0.05)
            assert wanted <= keys
            assert influxdb.count(influx_db, "reading", "value") == 0
            assert not ingesting.done() and not alarms.done()
        for _ in range(200):
            if (influxdb.count(influx_db, "reading", "value") >= 1
                    and not still_failing(service)):
                break
            await asyncio.sleep(0.05)
        assert influxdb.count(influx_db, "reading", "value") >= 1
        assert not still_failing(service)
    finally:
        ingesting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ingesting
        await stopped(alarms)
        store.close()
        for source in list(PROCESS.active()):
            PROCESS.ok(source)


async def test_a_crossing_whose_commit_failed_is_raised_once_the_disk_takes_it_again(
    service: AlarmService, unique_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk is full when a gas crossing is committed: nothing of it may be lost or
    dropped as a repeat. It is evaluated again (no reconnect needed) and raised, once
    and journalled, as soon as commits work again."""
    task = await started(service)
    try:
        commit = service.desk.db.commit
        failures = {"left": 3}

        def full_disk(*args: Any, **kwargs: Any) -> Any:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return commit(*args, **kwargs)

        monkeypatch.setattr(service.desk.db, "commit", full_disk)
        await still_evaluates(service, unique_id, 0, failing=True)
        for _ in range(100):  # the commit of the crossing failed, then worked
            if failures["left"] == 0:
                break
            await asyncio.sleep(0.05)
        assert failures["left"] == 0
        key = f"{unique_id}/GT-1/high_high"
        for _ in range(100):
            if any(a["key"] == key for a in service.desk.alarms(site=unique_id, active=True)):
                break
            await asyncio.sleep(0.05)
        raised = [a for a in service.desk.alarms(site=unique_id, active=True) if a["key"] == key]
        assert [a["alarm_id"] for a in raised] == [f"{key}#1"]
        lines = "".join(service.desk.journal_export(from_ms=None, to_ms=None, site=unique_id,
                                               fmt="jsonl"))
        events = [json.loads(line)["event"] for line in lines.splitlines()
                  if json.loads(line)["key"] == key]
        assert events[:1] == ["raised"] and events.count("raised") == 1
    finally:
        await stopped(task)
    assert service.desk.journal_verify()["ok"]
