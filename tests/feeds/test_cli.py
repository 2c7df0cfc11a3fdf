"""`hazmon report feeds` over a data folder: the embedded store and the alarm journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hazmon.alarms.core.model import Event
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.state_db import AlarmDb
from hazmon.cli import app
from hazmon.feeds import calendar
from hazmon.stores import SQLITE_FILE
from hazmon.stores.base import Point
from hazmon.stores.sqlite import SqliteStore

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
NOV = calendar.parse_month("2026-11", now_ms=1_796_500_000_000)
MIN = 60_000
SITE = "jh-chem-01"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """November's last hour: gw-tankfarm silent 3 minutes of it; a bypass alarm on
    ESD-01 raised and never cleared, in the journal."""
    t0 = NOV.to_ms - 60 * MIN
    store = SqliteStore(tmp_path / SQLITE_FILE)
    tags = {"site": SITE, "gateway": "gw-tankfarm"}
    store.write_points([
        Point("gateway_status", tags, {"online": True, "lost_messages": 0}, t0),
        Point("gateway_status", tags, {"online": False, "lost_messages": 0,
                                       "silent_since_ms": t0 + 10 * MIN}, t0 + 10 * MIN + 9_000),
        Point("gateway_status", tags, {"online": True, "lost_messages": 2}, t0 + 13 * MIN),
    ])
    store.close()
    db = AlarmDb(tmp_path)
    cur = db._conn.cursor()
    key = f"{SITE}/ESD-01/bypass"
    journal.append(cur, db.head, [Event(key=key, site=SITE, event="raised", ts_ms=t0,
                                        alarm_id=f"{key}#1", state="unack")])
    db.close()
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", "feeds", "--config", str(DEMO_PLANT), *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_report_of_a_month(data: Path, tmp_path: Path) -> None:
    code, out, _ = run("--site", SITE, "--month", "2026-11", "--data", str(data))
    assert code == 0
    assert "重大危险源监测数据接入月报" in out and "95.00%" in out
    assert f"{SITE}/ESD-01/bypass#1" in out
    target = tmp_path / "nov.csv"
    code, _, err = run("--site", SITE, "--month", "2026-11", "--data", str(data),
                       "--format", "csv", "--lang", "en", "--out", str(target))
    assert code == 0 and "wrote" in err
    text = target.read_text(encoding="utf-8")
    assert "gw-tankfarm,95.0," in text and "Messages lost,2" in text


@pytest.mark.parametrize(("args", "says"), [
    (["--site", SITE, "--month", "2026-13"], "expected YYYY-MM"),
    (["--site", SITE, "--month", "2999-01"], "not begun"),
    (["--site", "nowhere", "--month", "2026-11"], "no site 'nowhere'"),
    (["--site", SITE, "--month", "2026-11", "--format", "pdf"], "--format"),
])
def test_bad_input_exits_2(data: Path, args: list[str], says: str) -> None:
    code, out, err = run(*args, "--data", str(data))
    assert code == 2 and says in err and out == ""


def test_a_folder_without_a_journal_exits_2(tmp_path: Path) -> None:
    code, _, err = run("--site", SITE, "--month", "2026-11", "--data", str(tmp_path))
    assert code == 2 and "no alarm journal" in err
