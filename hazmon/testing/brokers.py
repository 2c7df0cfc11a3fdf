"""A real Mosquitto running exactly what `hazmon broker-config` writes, and MQTT clients
that record the broker's answers (CONNACK, SUBACK and PUBACK reason codes; the clients
are hazmon/testing/mqtt_clients.py's, shared with the deploy/mosquitto template's tests).

`GeneratedBroker` writes the configuration with hazmon.broker.acl into its own temp folder
and starts Mosquitto on it unchanged. Started as root, Mosquitto drops to the
`mosquitto` user before it reads the password and ACL files (docs/contract.md §9), so the
folder is made searchable and the files are the generator's own (owner, modes).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from hazmon.broker.acl import (
    SERVICE_LISTENER_USERS,
    Address,
    BrokerPlan,
    TlsFiles,
    Written,
    plan_broker,
    write_broker_config,
)
from hazmon.contract.registry import Registry
from hazmon.testing.mqtt_clients import Client, client
from hazmon.testing.servers import Mosquitto, free_port


@dataclass(frozen=True, slots=True)
class Pki:
    """A throwaway CA and a server certificate for 127.0.0.1, made with `openssl`."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                "-days", "2", "-subj", f"/CN=hazmon test {name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2",
            "-extfile", "server.ext")  # fmt: skip
    return Pki(folder / "ca.crt", folder / "server.crt", folder / "server.key",
               folder / "other-ca.crt")  # fmt: skip


def give_to_broker_user(*paths: Path) -> None:
    """What an operator does for the broker's key: let the `mosquitto` user read it."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("mosquitto")
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o600)


class GeneratedBroker(Mosquitto):
    """Mosquitto on the configuration `hazmon broker-config` writes for `registry`."""

    def __init__(self, registry: Registry, *, tls: bool = False, observer: bool = True) -> None:
        self.registry = registry
        self.want_tls = tls
        self.observer = observer
        self.tls_port = 0
        self.service_port = 0
        self.written: Written | None = None
        self.pki: Pki | None = None
        super().__init__()
        self.dir.chmod(0o711)  # mkdtemp's 0700 would keep the `mosquitto` user out

    @property
    def out(self) -> Path:
        return self.dir / "broker"

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.tls_port = free_port()
        self.service_port = free_port()

    @property
    def service_url(self) -> str:
        """Where hazmon's services connect (the service listener)."""
        return f"mqtt://{self.host}:{self.service_port}"

    def port_for(self, user: str) -> int:
        """The listener `user` logs in on: services on theirs, everyone else the plant's."""
        return self.service_port if user in SERVICE_LISTENER_USERS else self.port

    def plan(self) -> BrokerPlan:
        tls = None
        if self.want_tls:
            if self.pki is None:
                self.pki = make_pki(self.dir / "tls")
                give_to_broker_user(self.pki.key)
            tls = TlsFiles(self.pki.cert, self.pki.key, self.pki.ca)
        return plan_broker(
            self.registry,
            listen=Address(self.host, self.port),
            tls_listen=Address(self.host, self.tls_port),
            tls=tls,
            observer=self.observer,
            source="a test registry",
            service_listen=Address(self.host, self.service_port),
        )

    def _write_config(self) -> list[str]:
        written = write_broker_config(self.plan(), self.out)
        if self.written is not None:  # a restart keeps the passwords handed out
            assert not written.new_secrets
            written = Written(written.conf, written.passwd, written.acl, self.written.passwords,
                              written.owner, written.warnings, written.service_passwd)  # fmt: skip
        self.written = written
        return [str(self.binary), "-c", str(written.conf)]

    def password(self, user: str) -> str:
        assert self.written is not None
        return self.written.new_secrets[user]

    def _log_paths(self) -> list[Path]:
        return [self.dir / "stderr.log"]  # the generated config logs to stdout

    def __enter__(self) -> GeneratedBroker:
        self.start()
        return self


@contextmanager
def connected(
    broker: GeneratedBroker, user: str, *, protocol: MQTTProtocolVersion = mqtt.MQTTv5
) -> Iterator[Client]:
    port = broker.port_for(user)
    with client(port, user, broker.password(user), protocol=protocol) as session:
        reason = session.connect()
        assert reason is not None and not reason.is_failure, f"{user}: {reason}"
        yield session
