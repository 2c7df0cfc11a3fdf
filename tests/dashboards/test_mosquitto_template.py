"""deploy/mosquitto/ on a real Mosquitto 2: authenticated users, per-gateway ACLs,
the loopback healthcheck listener, shared subscriptions for ingest.

The template's container paths and ports are rewritten to a temp folder and free
ports; the password file is made with mosquitto_passwd, the ACL is acl.example.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hazmon.testing.mqtt_clients import FAILURE, NOT_AUTHORIZED, QUIET_S, WAIT_S, Client, client
from hazmon.testing.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration
FAILURE_REASON = ReasonCode(PacketTypes.CONNACK, "Unspecified error")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
USERS = {
    "jh-chem-01.gw-tankfarm": "tankfarm-pw",
    "jh-chem-01.gw-chlorine": "chlorine-pw",
    "hazmon-ingest": "ingest-pw",
    "hazmon-alarms": "alarms-pw",
}
SERVICES = frozenset({"hazmon-ingest", "hazmon-alarms"})
TANKFARM = "hazmon/v1/jh-chem-01/gw-tankfarm"
CHLORINE = "hazmon/v1/jh-chem-01/gw-chlorine"


class TemplateBroker(Mosquitto):
    """Mosquitto running deploy/mosquitto/mosquitto.conf, paths and ports moved."""

    def __init__(self) -> None:
        self.health_port = 0
        self.service_port = 0
        super().__init__()

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.health_port = free_port()
        self.service_port = free_port()

    def port_for(self, user: str) -> int:
        return self.service_port if user in SERVICES else self.port

    def _write_config(self) -> list[str]:
        auth = self.dir / "auth"
        auth.mkdir(exist_ok=True)
        shutil.copy(DEPLOY / "acl.example", auth / "acl")
        for name in ("passwd", "passwd-services"):
            (auth / name).touch()
        for user, password in USERS.items():
            passwd = auth / ("passwd-services" if user in SERVICES else "passwd")
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
        (self.dir / "data").mkdir(exist_ok=True)
        text = (DEPLOY / "mosquitto.conf").read_text(encoding="utf-8")
        text = (
            text.replace("/mosquitto/auth/", f"{auth}/")
            .replace("/mosquitto/data/", f"{self.dir}/data/")
            .replace("/mosquitto/config/healthcheck.acl", str(DEPLOY / "healthcheck.acl"))
            .replace("\nlistener 1883\n", f"\nlistener {self.port} 127.0.0.1\n")
            .replace("\nlistener 1884\n", f"\nlistener {self.service_port} 127.0.0.1\n")
            .replace("\nlistener 1880 127.0.0.1\n", f"\nlistener {self.health_port} 127.0.0.1\n")
            .replace("log_dest stdout", f"log_dest file {self.log_path}")
        )
        user = pwd.getpwuid(os.geteuid()).pw_name  # started as root, stay readable
        config = self.dir / "mosquitto.conf"
        config.write_text(f"user {user}\n{text}", encoding="utf-8")
        return [str(self.binary), "-c", str(config)]


@pytest.fixture(scope="module")
def broker() -> Iterator[TemplateBroker]:
    server = TemplateBroker()
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextmanager
def connected(broker: TemplateBroker, user: str) -> Iterator[Client]:
    with client(broker.port_for(user), user, USERS[user]) as session:
        reason = session.connect()
        assert reason is not None and not reason.is_failure, f"{user}: {reason}"
        yield session


def test_the_plant_listener_refuses_anonymous_and_wrong_passwords(broker: TemplateBroker) -> None:
    with client(broker.port) as anonymous:
        assert anonymous.connect().is_failure
    with client(broker.service_port, "hazmon-ingest", "not-the-password") as wrong:
        assert wrong.connect().is_failure
    with client(broker.service_port, "jh-chem-01.gw-tankfarm", "tankfarm-pw") as gateway:
        assert gateway.connect().is_failure  # gateways never log in beside the services
    with client(broker.port, "hazmon-ingest", "ingest-pw") as service:
        assert service.connect().is_failure  # services never on the plant listener


def test_a_gateway_publishes_its_own_telemetry_to_the_ingest_group(broker: TemplateBroker) -> None:
    with (
        connected(broker, "hazmon-ingest") as ingest,
        connected(broker, "jh-chem-01.gw-tankfarm") as gateway,
    ):
        assert ingest.subscribe("$share/hazmon-ingest/hazmon/v1/+/+/telemetry") < FAILURE
        assert gateway.publish(f"{TANKFARM}/telemetry", b'{"seq": 0}') < FAILURE
        message = ingest.next_message(WAIT_S)
        assert message is not None and message.topic == f"{TANKFARM}/telemetry"


def test_a_gateway_cannot_speak_for_another(broker: TemplateBroker) -> None:
    with (
        connected(broker, "hazmon-alarms") as alarms,
        connected(broker, "jh-chem-01.gw-tankfarm") as gateway,
    ):
        assert alarms.subscribe("hazmon/v1/+/+/telemetry") < FAILURE
        assert gateway.publish(f"{CHLORINE}/telemetry") == NOT_AUTHORIZED
        assert gateway.publish("hazmon/v1/jh-chem-01/alarms") == NOT_AUTHORIZED
        assert alarms.next_message(QUIET_S) is None


def test_ingest_reads_but_cannot_publish_alarms(broker: TemplateBroker) -> None:
    with connected(broker, "hazmon-ingest") as ingest, connected(broker, "hazmon-alarms") as alarms:
        assert ingest.publish("hazmon/v1/jh-chem-01/alarms") == NOT_AUTHORIZED
        assert alarms.publish("hazmon/v1/jh-chem-01/alarms") < FAILURE


def test_healthcheck_reads_sys_on_loopback_and_nothing_else(broker: TemplateBroker) -> None:
    probe = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.health_port),
         "-t", "$SYS/broker/uptime", "-C", "1", "-W", "5"],
        capture_output=True, text=True, timeout=15,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert "seconds" in probe.stdout
    with client(broker.health_port) as anonymous:
        assert not anonymous.connect().is_failure
        assert anonymous.subscribe("hazmon/v1/#") == NOT_AUTHORIZED or _receives_nothing(
            anonymous, broker
        )
        assert anonymous.publish(f"{TANKFARM}/telemetry") == NOT_AUTHORIZED


def _receives_nothing(anonymous: Client, broker: TemplateBroker) -> bool:
    with connected(broker, "jh-chem-01.gw-tankfarm") as gateway:
        gateway.publish(f"{TANKFARM}/telemetry")
    return anonymous.next_message(QUIET_S) is None


def test_a_gateway_takes_no_one_elses_client_id(broker: TemplateBroker) -> None:
    """On the plant listener a client's id is its user name: connecting as the
    chlorine gateway with the tankfarm gateway's id does not close the tankfarm's."""
    own_id = "hazmon-gw-jh-chem-01-gw-tankfarm"  # the gateway's predictable id
    with client(broker.port, "jh-chem-01.gw-tankfarm", "tankfarm-pw",
                client_id=own_id) as tankfarm:  # fmt: skip
        assert not (tankfarm.connect() or FAILURE_REASON).is_failure
        for stolen in (own_id, "jh-chem-01.gw-tankfarm"):
            # what the thief asks for; the broker names it
            with client(broker.port, "jh-chem-01.gw-chlorine", "chlorine-pw",
                        client_id=stolen) as thief:  # fmt: skip
                assert not (thief.connect() or FAILURE_REASON).is_failure
        assert tankfarm.publish(f"{TANKFARM}/telemetry") < FAILURE
        assert tankfarm.disconnects == 0
