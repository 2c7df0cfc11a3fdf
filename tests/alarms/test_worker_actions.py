"""Operator actions on a partition's owner (hazmon.alarms.workers.act_on): the commit of
an action names its request in the changelog record, and a new owner that replayed
that record answers a retry of the request as things are, without acting twice (the
old owner committed it and died before answering; the API instance asks again with the
same request id)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson

from hazmon.alarms import changelog, remote
from hazmon.alarms.core.inputs import Ack, OutOfService
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.workers import Owned, StreamClock, act_on
from hazmon.stores.memory import MemoryStore
from tests.alarms.plant import Clock, key, registry, telemetry


def owned_by(desk: AlarmDesk, committed: dict[str, int] | None = None) -> Owned:
    return Owned(pin="pin", link=cast(Any, SimpleNamespace(partition=0)),
                 service=SimpleNamespace(desk=desk), task=cast(Any, None), last_seq=0,
                 clock=StreamClock(0), committed=OrderedDict(committed or {}))


def test_a_retry_of_a_request_an_earlier_owner_committed_is_answered_not_done_again(
    tmp_path: Path,
) -> None:
    clock = Clock()
    records: list[bytes] = []
    desk = AlarmDesk(registry=registry(), data_dir=tmp_path, store=MemoryStore(), clock=clock,
                     database=changelog.ReplicatedDb(tmp_path, records.append, by="w1"))
    try:
        desk.receive([("hazmon/v1/s1/gw1/telemetry", telemetry(
            0, {"sensor": "GT-1", "ts_ms": clock.now_ms, "value": 60.0}))])
        alarm_id = f"{key('GT-1', 'high_high')}#1"
        ack = remote.encode_input(Ack(alarm_id, "zhang.wei", "crew sent"))

        answer, final = asyncio.run(act_on(owned_by(desk), ack, "req-1"))
        assert final and orjson.loads(answer)["ok"]["state"] == "acked"
        assert changelog.request_of(records[-1]) == "req-1"
        written = len(records)

        # the successor replayed that record: the retry is answered, nothing is done
        again, final = asyncio.run(act_on(owned_by(desk, {"req-1": 7}), ack, "req-1"))
        assert final and orjson.loads(again) == {"ok": orjson.loads(answer)["ok"], "seq": 7}
        assert len(records) == written

        # without the record (another request), acking again is refused as before
        refused, final = asyncio.run(act_on(owned_by(desk), ack, "req-2"))
        assert orjson.loads(refused)["error"] == "IllegalTransition"

        # an action with no request id is recorded without one
        oos = remote.encode_input(OutOfService("s1", "GT-2", "li.na",
                                               until_ms=clock.now_ms + 60_000, reason="cal"))
        asyncio.run(act_on(owned_by(desk), oos, None))
        assert changelog.request_of(records[-1]) is None
    finally:
        desk.close()
