"""`hazmon dashboards push`: into a folder, idempotently, with the token never on argv.

Against tests/dashboards/fake_grafana.py (no Grafana server is installable here),
through the real grafana-client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hazmon.cli import app
from hazmon.cli.dashboards import DEMO_REGISTRY
from hazmon.contract.config import load_registry
from hazmon.dashboards import provisioning
from hazmon.dashboards.push import PushError, as_documents, connect, push
from tests.dashboards.fake_grafana import FakeGrafana

TOKEN = "glsa_test-token"
DOCUMENTS = as_documents(provisioning.render(load_registry(DEMO_REGISTRY)))
UIDS = sorted(d["uid"] for d in DOCUMENTS)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana(TOKEN) as server:
        yield server


def test_first_push_creates_the_folder_and_every_dashboard(grafana: FakeGrafana) -> None:
    results = push(connect(grafana.url, TOKEN), DOCUMENTS)
    assert sorted(r.uid for r in results) == UIDS
    assert {r.outcome for r in results} == {"created"}
    assert grafana.state.folders["hazmon"]["title"] == "hazmon"
    for document in DOCUMENTS:
        stored = grafana.state.dashboards[document["uid"]]
        assert stored["meta"]["folderUid"] == "hazmon"
        assert stored["dashboard"]["panels"] == document["panels"]


def test_pushing_again_changes_nothing(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, TOKEN)
    push(api, DOCUMENTS)
    writes_before = len(grafana.state.writes())
    results = push(api, DOCUMENTS)
    assert {r.outcome for r in results} == {"unchanged"}
    assert len(grafana.state.writes()) == writes_before, "a second push wrote to Grafana"
    assert {d["dashboard"]["version"] for d in grafana.state.dashboards.values()} == {1}


def test_a_changed_dashboard_is_overwritten_in_place(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, TOKEN)
    push(api, DOCUMENTS)
    changed = [json.loads(json.dumps(d)) for d in DOCUMENTS]
    changed[0]["title"] += " (new)"
    results = {r.uid: r.outcome for r in push(api, changed)}
    assert results[changed[0]["uid"]] == "updated"
    assert sum(1 for outcome in results.values() if outcome == "unchanged") == len(DOCUMENTS) - 1
    stored = grafana.state.dashboards[changed[0]["uid"]]["dashboard"]
    assert stored["title"].endswith("(new)")
    assert stored["version"] == 2


def test_a_dashboard_moved_elsewhere_comes_back_to_the_folder(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, TOKEN)
    push(api, DOCUMENTS)
    grafana.state.dashboards[UIDS[0]]["meta"]["folderUid"] = "somewhere-else"
    results = {r.uid: r.outcome for r in push(api, DOCUMENTS)}
    assert results[UIDS[0]] == "updated"
    assert grafana.state.dashboards[UIDS[0]]["meta"]["folderUid"] == "hazmon"


def test_a_wrong_token_is_a_push_error(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError) as raised:
        push(connect(grafana.url, "not-the-token"), DOCUMENTS)
    assert "401" in raised.value.detail
    assert grafana.state.dashboards == {}


def test_cli_takes_the_token_from_the_environment(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    result = CliRunner().invoke(app, ["dashboards", "push", "--grafana", grafana.url])
    assert result.exit_code == 0, result.output
    assert result.output.count("created") == len(DOCUMENTS)


def test_cli_takes_the_token_from_a_file(
    grafana: FakeGrafana, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    token_file = tmp_path / "grafana-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    args = ["dashboards", "push", "--grafana", grafana.url, "--token-file", str(token_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, args)
    assert again.output.count("unchanged") == len(DOCUMENTS)


def test_cli_refuses_to_run_without_a_token_and_has_no_token_option(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    missing = CliRunner().invoke(app, ["dashboards", "push", "--grafana", grafana.url])
    assert missing.exit_code == 2
    assert "GRAFANA_TOKEN" in missing.output
    on_argv = CliRunner().invoke(
        app, ["dashboards", "push", "--grafana", grafana.url, "--token", TOKEN]
    )
    assert on_argv.exit_code == 2
    assert grafana.state.requests == []


def test_cli_reports_an_unreachable_grafana(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    with FakeGrafana(TOKEN) as stopped:
        url = stopped.url
    result = CliRunner().invoke(app, ["dashboards", "push", "--grafana", url])
    assert result.exit_code == 1
    assert "cannot reach Grafana" in result.output
