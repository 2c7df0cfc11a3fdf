"""Hidden dangers on JetStream's partition changelog (alarms/changelog.py): the records
live in the alarm database and every change is a journal entry committed by
`AlarmDb.commit`, so a partition rebuilt from its changelog records (a takeover, an
API instance's copy) has the same records, evidence and journal."""

from __future__ import annotations

from pathlib import Path

from hazmon.alarms import changelog
from hazmon.alarms.dangers import table
from hazmon.alarms.dangers.book import NewDanger
from hazmon.alarms.journal import chain
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import AlarmDb
from hazmon.api.testing import HOUR_MS, ManualClock
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"


def test_a_partition_rebuilt_from_its_changelog_has_the_same_hidden_dangers(
    tmp_path: Path,
) -> None:
    records: list[bytes] = []
    clock = ManualClock(1_795_136_400_000)
    owner = AlarmDesk(registry=load_registry(DEMO), data_dir=tmp_path / "owner",
                      store=MemoryStore(), clock=clock,
                      database=changelog.ReplicatedDb(tmp_path / "owner", records.append))
    book = owner.dangers
    hd = book.create(NewDanger(site="dy-cold-01", area="制冷机房", description="排风口遮挡",
                               grade="major", source="inspection", found_by="liu.jun",
                               deadline_ms=clock() + HOUR_MS), user="liu.jun", note=None)["id"]
    book.act(hd, "rectify", user="zhang.wei", note=None)
    book.add_file(hd, name="a.png", data=b"\x89PNG\r\n\x1a\n" + bytes(10), user="zhang.wei")
    clock.advance_ms(2 * HOUR_MS)
    book.tick()  # overdue: the critical alarm and the notification, committed too
    book.act(hd, "submit", user="zhang.wei", note=None)
    book.tick()  # the alarm ends
    before = table.records(owner.db.reader)
    owner.close()

    copy = AlarmDb(tmp_path / "copy")
    for record in records:
        changelog.apply(copy, record)
    assert table.records(copy.reader) == before
    [doc] = before
    assert doc["state"] == "submitted" and doc["alarm"]["state"] == "normal"
    assert chain.verify(chain.rows(copy.reader), None).answer()["ok"] is True
    assert copy.occurrence(f"dy-cold-01/{hd}/overdue#1") is not None
