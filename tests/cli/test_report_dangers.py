"""`hazmon report dangers`: the hidden-danger ledger of a site and a quarter from a data
folder's alarm database, read back by Python's csv module; its figures as JSON; a
malformed quarter or an unknown site is exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from hazmon.alarms.dangers.book import NewDanger
from hazmon.alarms.dangers.ledger import HEADERS
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.api.testing import ManualClock
from hazmon.cli import app
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
NOV_20 = 1_795_136_400_000  # 2026-11-20 09:00 CST


def test_the_ledger_of_a_quarter_from_a_data_folder(tmp_path: Path) -> None:
    desk = AlarmDesk(registry=load_registry(DEMO), data_dir=tmp_path, store=MemoryStore(),
                     clock=ManualClock(NOV_20))
    for text, grade in (("防火堤破损, \"需修补\"", "general"), ("=液氨罐未联锁", "major")):
        desk.dangers.create(NewDanger(site="dy-cold-01", area="制冷机房", description=text,
                                      grade=grade, source="inspection", found_by="liu.jun"),
                            user="liu.jun", note=None)
    desk.close()
    runner = CliRunner()
    common = ["report", "dangers", "--site", "dy-cold-01", "--config", str(DEMO),
              "--data", str(tmp_path)]
    result = runner.invoke(app, [*common, "--quarter", "2026Q4", "--bom"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(result.stdout.removeprefix("\ufeff"))))
    assert tuple(rows[0]) == HEADERS
    assert [r[4] for r in rows[1:]] == ['防火堤破损, "需修补"', "'=液氨罐未联锁"]
    figures = json.loads(runner.invoke(app, [*common, "--quarter", "2026Q4", "--format",
                                             "json"]).stdout)
    assert (figures["found"], figures["found_by_grade"]) == (2, {"general": 1, "major": 1})
    assert runner.invoke(app, [*common, "--quarter", "2026Q3"]).stdout.count("\n") == 1
    assert runner.invoke(app, [*common, "--quarter", "26Q4"]).exit_code == 2
    other = ["report", "dangers", "--site", "nowhere", "--config", str(DEMO), "--data",
             str(tmp_path), "--quarter", "2026Q4"]
    assert runner.invoke(app, other).exit_code == 2
