"""`hazmon broker-config` without a broker: who gets which rules, what refuses to be
written, file modes, passwords kept and rotated, and no secret on any command line.

These run `mosquitto_passwd` (a program, not a server), so they stay in the pure tier.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from hazmon.broker import passwd as passwd_module
from hazmon.broker.acl import (
    ALARMS_USER,
    INGEST_USER,
    OBSERVER_USER,
    SIMULATOR_USER,
    Address,
    BrokerConfigError,
    TlsFiles,
    acl_text,
    conf_text,
    plan_broker,
    write_broker_config,
)
from hazmon.cli import app
from hazmon.contract.config import load_registry, parse_registry
from hazmon.contract.errors import ConfigError
from hazmon.contract.registry import Registry
from hazmon.contract.settings import parse_broker_url, parse_influx_url

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
LISTEN = Address("127.0.0.1", 1883)


@pytest.fixture(scope="module")
def demo() -> Registry:
    return load_registry(DEMO_PLANT)


def demo_with(old: str, new: str) -> Registry:
    text = DEMO_PLANT.read_text(encoding="utf-8")
    assert old in text
    return parse_registry(text.replace(old, new, 1), file="plant.yaml")


def test_every_gateway_gets_a_user_that_writes_only_its_own_two_topics(demo: Registry) -> None:
    plan = plan_broker(demo, listen=LISTEN)
    users = {u.name: u for u in plan.users}
    gateways = [(s.id, g.id) for s in demo.sites for g in s.gateways]
    assert len(users) == len(gateways) + 2  # + ingest and alarms, nothing else by default
    for site, gateway in gateways:
        rules = {(r.access, r.topic) for r in users[f"{site}.{gateway}"].rules}
        root = f"hazmon/v1/{site}/{gateway}"
        assert rules == {("write", f"{root}/telemetry"), ("write", f"{root}/state")}
    assert {r.access for r in users[INGEST_USER].rules} == {"read"}
    alarms = {(r.access, r.topic) for r in users[ALARMS_USER].rules}
    assert ("write", "hazmon/v1/notify/regulator") in alarms  # the registry's MQTT notifier
    assert not any(a != "read" and "/+/+/" in t for a, t in alarms)  # never gateway topics


def test_simulator_and_observer_only_when_asked(demo: Registry) -> None:
    plan = plan_broker(demo, listen=LISTEN, simulator=True, observer=True)
    users = {u.name: u for u in plan.users}
    assert {r.access for r in users[SIMULATOR_USER].rules} == {"write"}
    assert all("+" not in r.topic for r in users[SIMULATOR_USER].rules)  # the registry's only
    assert [(r.access, r.topic) for r in users[OBSERVER_USER].rules] == [("read", "hazmon/v1/#")]


def test_the_config_refuses_anonymous_queues_enough_and_persists(demo: Registry) -> None:
    tls = TlsFiles(Path("/tls/server.crt"), Path("/tls/server.key"), Path("/tls/ca.crt"))
    plan = plan_broker(demo, listen=LISTEN, tls=tls)
    text = conf_text(plan, auth_dir=Path("/auth"), data_dir=Path("/data"))
    lines = text.splitlines()
    for line in (
        "allow_anonymous false",
        "password_file /auth/passwd",
        "acl_file /auth/acl",
        "persistence true",
        "persistence_location /data/",
        "max_queued_messages 100000",
        "listener 1883 127.0.0.1",
        "listener 8883 0.0.0.0",
        "certfile /tls/server.crt",
        "keyfile /tls/server.key",
        "cafile /tls/ca.crt",
        "tls_version tlsv1.2",
    ):
        assert line in lines
    assert "allow_anonymous true" not in text


def test_the_queue_can_be_sized_up_but_not_below_the_contract(demo: Registry) -> None:
    plan = plan_broker(demo, listen=LISTEN, max_queued=400_000)
    lines = conf_text(plan, auth_dir=Path("/auth"), data_dir=Path("/data")).splitlines()
    assert "max_queued_messages 400000" in lines
    assert "max_queued_messages 100000" not in lines
    with pytest.raises(BrokerConfigError, match="at least 100,000"):
        plan_broker(demo, listen=LISTEN, max_queued=99_999)


def test_ambiguous_dotted_ids_are_refused() -> None:
    """Site `a.b` + gateway `c` and site `a` + gateway `b.c` would share user `a.b.c`."""
    text = DEMO_PLANT.read_text(encoding="utf-8")
    text = text.replace("id: jh-chem-01\n", "id: jh.chem\n", 1)
    text = text.replace("id: gw-tankfarm\n", "id: x\n", 1)
    text = text.replace("id: yw-paint-01\n", "id: jh\n", 1)
    text = text.replace("id: gw-spray\n", "id: chem.x\n", 1)
    registry = parse_registry(text)
    with pytest.raises(BrokerConfigError, match=r"'jh\.chem\.x'"):
        plan_broker(registry, listen=LISTEN)


@pytest.mark.parametrize(
    "topic",
    [
        "hazmon/v1/+/alarms",  # a wildcard
        "hazmon/v1/notify/#",
        "notify\nuser evil\ntopic readwrite #",  # a line break: ACL injection
        "hazmon/v1/notify/a b",
        "$SYS/broker",
        "hazmon/v1/jh-chem-01/gw-tankfarm/telemetry",  # would let alarms forge readings
    ],
)
def test_unsafe_notifier_topics_are_refused(topic: str) -> None:
    quoted = topic.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    registry = demo_with('{mqtt: "hazmon/v1/notify/regulator"}', f'{{mqtt: "{quoted}"}}')
    assert registry.notifiers["regulator"].mqtt == topic
    with pytest.raises(BrokerConfigError, match=r"notifiers\.regulator\.mqtt"):
        plan_broker(registry, listen=LISTEN)


def test_no_acl_line_comes_from_outside_the_id_pattern(demo: Registry) -> None:
    text = acl_text(plan_broker(demo, listen=LISTEN, simulator=True, observer=True))
    for line in text.splitlines():
        assert (
            line == ""
            or line.startswith("#")
            or re.fullmatch(
                r"user [A-Za-z0-9_.-]+|topic (read|write|readwrite) [A-Za-z0-9_./+#-]+"
                r"|topic read \$SYS/broker/publish/messages/dropped", line  # the drop counter
            )
        ), line


def test_listeners_are_checked() -> None:
    assert Address.parse("[::1]:8883", default_port=1) == Address("::1", 8883)
    assert Address.parse(":1884", default_port=1) == Address("0.0.0.0", 1884)
    assert Address.parse("10.0.0.2", default_port=1883) == Address("10.0.0.2", 1883)
    for bad in ("host:http", "host:0", "host:70000"):
        with pytest.raises(BrokerConfigError):
            Address.parse(bad, default_port=1883)


def test_files_modes_and_exactly_one_conf(demo: Registry, tmp_path: Path) -> None:
    plan = plan_broker(demo, listen=LISTEN)
    written = write_broker_config(plan, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "acl", "data", "mosquitto.conf", "passwd", "passwd-services",
    ]  # fmt: skip
    assert written.service_passwd is not None
    for path in (written.passwd, written.service_passwd):
        assert path.stat().st_mode & 0o777 == 0o600
    assert written.acl.stat().st_mode & 0o007 == 0  # nobody else reads the topology
    services = written.service_passwd.read_text()
    assert {line.split(":")[0] for line in services.splitlines()} == {INGEST_USER, ALARMS_USER}
    assert INGEST_USER not in written.passwd.read_text()  # not on the plant listener
    hashed = written.passwd.read_text() + services
    assert set(written.new_secrets) == set(plan.user_names)
    for user, secret in written.new_secrets.items():
        assert len(secret) >= 32
        assert secret not in hashed
        assert re.search(rf"^{re.escape(user)}:\$7\$", hashed, re.MULTILINE)
    (tmp_path / "out" / "old.conf").write_text("listener 1\n")
    with pytest.raises(BrokerConfigError, match="exactly one"):
        write_broker_config(plan, tmp_path / "out")


def test_rerun_keeps_passwords_rotate_replaces_one_and_gone_users_are_dropped(
    demo: Registry, tmp_path: Path
) -> None:
    first = write_broker_config(plan_broker(demo, listen=LISTEN, observer=True), tmp_path)
    before = dict(line.split(":", 1) for line in first.passwd.read_text().splitlines())
    second = write_broker_config(
        plan_broker(demo, listen=LISTEN), tmp_path, rotate=["jh-chem-01.gw-tankfarm"]
    )
    after = dict(line.split(":", 1) for line in second.passwd.read_text().splitlines())
    assert list(second.new_secrets) == ["jh-chem-01.gw-tankfarm"]
    assert second.passwords.removed == [OBSERVER_USER]
    assert OBSERVER_USER not in after
    changed = {u for u in after if after[u] != before[u]}
    assert changed == {"jh-chem-01.gw-tankfarm"}
    with pytest.raises(passwd_module.PasswdError, match="no user"):
        write_broker_config(plan_broker(demo, listen=LISTEN), tmp_path, rotate=["nobody"])


def test_passwords_never_reach_a_command_line(
    demo: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real_run = subprocess.run

    def spy(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)  # hazmon.broker.passwd calls subprocess.run
    written = write_broker_config(plan_broker(demo, listen=LISTEN), tmp_path)
    assert calls and all(argv[1] == "-U" for argv in calls)
    flat = " ".join(" ".join(argv) for argv in calls)
    assert not any(secret in flat for secret in written.new_secrets.values())
    assert not list(tmp_path.glob(".passwd-plain-*"))  # the clear-text file is gone


def test_cli_prints_new_passwords_once_or_writes_them_0600(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "broker"
    args = ["broker-config", "--config", str(DEMO_PLANT), "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    printed = dict(line.split("\t") for line in first.stdout.splitlines())
    assert INGEST_USER in printed and len(printed[INGEST_USER]) >= 32
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and again.stdout == ""  # nothing new: nothing shown
    sized = runner.invoke(app, [*args, "--max-queued", "400000"])
    assert sized.exit_code == 0, sized.output
    assert "max_queued_messages 400000" in (out / "mosquitto.conf").read_text().splitlines()
    secrets = tmp_path / "new-secrets"
    rotated = runner.invoke(app, [*args, "--rotate", "all", "--secrets-out", str(secrets)])
    assert rotated.exit_code == 0 and rotated.stdout == ""
    assert secrets.stat().st_mode & 0o777 == 0o700
    assert (secrets / INGEST_USER).stat().st_mode & 0o777 == 0o600
    assert len((secrets / INGEST_USER).read_text().strip()) >= 32


def test_cli_exits_2_on_a_bad_registry_or_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: []\n")
    result = runner.invoke(app, ["broker-config", "--config", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "bad.yaml:1" in result.stderr
    only_cert = ["--tls-cert", str(tmp_path / "c.pem")]
    result = runner.invoke(app, ["broker-config", "--config", str(DEMO_PLANT),
                                 "--out", str(tmp_path / "o"), *only_cert])  # fmt: skip
    assert result.exit_code == 2
    assert "together" in result.stderr


SECRET_WORDS = re.compile(r"pass(word|wd)?|secret|token|credential|api.?key", re.IGNORECASE)


def _options(command: Any, prefix: str = "hazmon") -> list[tuple[str, Any]]:
    if hasattr(command, "commands"):
        found: list[tuple[str, Any]] = []
        for name, sub in command.commands.items():
            found += _options(sub, f"{prefix} {name}")
        return found
    return [(prefix, param) for param in command.params]


def test_no_command_takes_a_secret_on_its_command_line() -> None:
    """`ps` shows every argument to every user: secrets come from the environment or
    from files. An option about a secret must name a file (`--token-file`,
    `--secrets-out`), or be a flag."""
    options = _options(typer.main.get_command(app))
    assert len(options) > 20
    for command, param in options:
        if not SECRET_WORDS.search(param.name or ""):
            continue
        assert param.is_flag or re.search(r"(_file|_out|_dir)$", param.name), (
            f"{command} {param.opts}: takes a secret value on the command line"
        )


@pytest.mark.parametrize("url", ["mqtt://user:pw@127.0.0.1:1883", "mqtts://u@h"])
def test_broker_urls_with_credentials_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="HAZMON_MQTT"):
        parse_broker_url(url)


def test_influx_urls_with_credentials_are_refused() -> None:
    with pytest.raises(ConfigError, match="HAZMON_INFLUX"):
        parse_influx_url("http://admin:pw@127.0.0.1:8086/hazmon")


def test_at_least_one_listener_and_distinct_ports(demo: Registry) -> None:
    with pytest.raises(BrokerConfigError, match="at least one listener"):
        plan_broker(demo, listen=None)
    tls = TlsFiles(Path("/c"), Path("/k"), Path("/a"))
    with pytest.raises(BrokerConfigError, match="different ports"):
        plan_broker(demo, listen=LISTEN, tls_listen=Address("0.0.0.0", 1883), tls=tls)
    text = conf_text(plan_broker(demo, listen=None, tls=tls), auth_dir=Path("/a"),
                     data_dir=Path("/d"))  # fmt: skip
    assert [line for line in text.splitlines() if line.startswith("listener")] == [
        "listener 8883 0.0.0.0", "listener 1884 127.0.0.1",
    ]  # fmt: skip
    with pytest.raises(BrokerConfigError, match="different ports"):
        plan_broker(demo, listen=LISTEN, service_listen=Address("127.0.0.1", 1883))


@pytest.mark.skipif(os.geteuid() != 0, reason="files are given to the broker's user as root")
def test_files_the_broker_could_not_read_are_warned_about(demo: Registry, tmp_path: Path) -> None:
    hidden = tmp_path / "private"  # pytest's tmp folders are 0700: mosquitto may not enter
    hidden.mkdir(mode=0o700)
    key = hidden / "server.key"
    key.write_text("not really a key")
    tls = TlsFiles(key, key, key)
    written = write_broker_config(plan_broker(demo, listen=LISTEN, tls=tls), tmp_path / "out")
    assert written.owner is not None and written.owner.name == "mosquitto"
    assert any("may not search" in w and str(hidden) in w for w in written.warnings)
    assert (tmp_path / "out" / "passwd").stat().st_uid == written.owner.uid


def _listeners(text: str) -> dict[str, list[str]]:
    """The settings under each `listener` line of a mosquitto.conf."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("listener "):
            current = found[line] = []
        elif current is not None and line and not line.startswith("#"):
            current.append(line)
    return found


def test_plant_listeners_bind_client_ids_to_users_and_services_have_their_own(
    demo: Registry,
) -> None:
    tls = TlsFiles(Path("/tls/server.crt"), Path("/tls/server.key"), Path("/tls/ca.crt"))
    plan = plan_broker(demo, listen=LISTEN, tls=tls, service_listen=Address("10.0.0.5", 1884))
    listeners = _listeners(conf_text(plan, auth_dir=Path("/auth"), data_dir=Path("/data")))
    plant = listeners["listener 1883 127.0.0.1"]
    assert "use_username_as_clientid true" in plant
    assert "password_file /auth/passwd" in plant
    assert "use_username_as_clientid true" in listeners["listener 8883 0.0.0.0"]
    assert "certfile /tls/server.crt" in listeners["listener 8883 0.0.0.0"]
    service = listeners["listener 1884 10.0.0.5"]
    assert "password_file /auth/passwd-services" in service
    assert "use_username_as_clientid true" not in service
    assert "certfile /tls/server.crt" in service  # beyond loopback: TLS too
    for settings in listeners.values():
        assert "allow_anonymous false" in settings


def test_a_plain_listener_beyond_loopback_is_warned_about(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["broker-config", "--config", str(DEMO_PLANT), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)  # the default: 0.0.0.0:1883, plain
    assert result.exit_code == 0, result.output
    assert "warning: the plain listener 0.0.0.0:1883" in result.stderr
    quiet = runner.invoke(app, [*args, "--listen", "127.0.0.1:1883"])
    assert "plain listener" not in quiet.stderr
    exposed = runner.invoke(app, [*args, "--listen", "127.0.0.1:1883",
                                  "--service-listen", "0.0.0.0:1884"])  # fmt: skip
    assert "warning: the service listener 0.0.0.0:1884 is plain" in exposed.stderr


def test_secrets_out_files_are_what_the_file_variables_read(tmp_path: Path) -> None:
    """One format: `--secrets-out DIR` writes DIR/USER holding the password alone, and
    HAZMON_MQTT_PASSWORD_FILE / HAZMON_INFLUX_PASSWORD_FILE read such a file as it is."""
    from hazmon.contract.settings import Settings

    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(app, ["broker-config", "--config", str(DEMO_PLANT),
                                          "--out", str(tmp_path / "o"),
                                          "--secrets-out", str(tmp_path / "s")])  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    secret = tmp_path / "s" / INGEST_USER
    assert secret.stat().st_mode & 0o777 == 0o600
    settings = Settings(mqtt_password_file=secret, influx_password_file=secret)
    assert settings.mqtt_secret() == settings.influx_secret() == secret.read_text().strip()
    assert len(settings.mqtt_secret() or "") >= 32
    old_format = tmp_path / "old"
    old_format.write_text(f"{INGEST_USER}\tpassword\n")
    with pytest.raises(ConfigError, match="alone on one line"):
        Settings(mqtt_password_file=old_format).mqtt_secret()
    (tmp_path / "file").write_text("")
    refused = CliRunner().invoke(app, ["broker-config", "--config", str(DEMO_PLANT),
                                       "--out", str(tmp_path / "o2"),
                                       "--secrets-out", str(tmp_path / "file")])  # fmt: skip
    assert refused.exit_code == 1 and "give a folder" in refused.stderr
