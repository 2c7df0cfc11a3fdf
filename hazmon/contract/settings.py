"""Settings, built once in `main` and frozen (docs/development.md §6).

Command-line options name the files and addresses; secrets come only from the
environment (`HAZMON_MQTT_PASSWORD`, `HAZMON_INFLUX_TOKEN`, ...) or from files named
there (`HAZMON_MQTT_PASSWORD_FILE`, `HAZMON_INFLUX_PASSWORD_FILE`), never from
command-line values that `ps` shows. A secret file holds the secret alone (one line;
`hazmon broker-config --secrets-out DIR` writes one such file per broker user).

`hazmon up` runs ingest and the alarm service in one process, each as its own broker
user: the alarm service as `HAZMON_MQTT_USERNAME`, ingest as
`HAZMON_INGEST_MQTT_USERNAME` (with `HAZMON_INGEST_MQTT_PASSWORD[_FILE]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hazmon.contract.errors import ConfigError, Problem


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAZMON_", frozen=True, extra="ignore")

    config: Path | None = None
    broker: str | None = None  # mqtt://host:port or mqtts://host:port
    influx: str | None = None  # http://host:port/db
    data: Path = Path("hazmon-data")
    http: str = "127.0.0.1:8080"
    client_id: str | None = None
    session_expiry_s: int = 300
    retention_days: float = 0.0  # embedded store: readings older than this are deleted
    streams_file: Path | None = None  # nats://: cluster-config's streams.json (the budget)

    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None

    ingest_mqtt_username: str | None = None
    ingest_mqtt_password: SecretStr | None = None
    ingest_mqtt_password_file: Path | None = None

    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_password_file: Path | None = None
    influx_token: SecretStr | None = None
    # gzip the line protocol written to InfluxDB: auto, unless it listens on this host
    # (on loopback compressing only costs both ends CPU); on; off
    influx_gzip: Literal["auto", "on", "off"] = "auto"

    def mqtt_secret(self) -> str | None:
        if self.mqtt_password is not None:
            return self.mqtt_password.get_secret_value()
        if self.mqtt_password_file is not None:
            return read_secret_file(self.mqtt_password_file, "HAZMON_MQTT_PASSWORD_FILE")
        return None

    def influx_secret(self) -> str | None:
        if self.influx_password is not None:
            return self.influx_password.get_secret_value()
        if self.influx_password_file is not None:
            return read_secret_file(self.influx_password_file, "HAZMON_INFLUX_PASSWORD_FILE")
        return None

    def for_ingest(self) -> Settings:
        """These settings with ingest's own broker user, when one is given
        (`hazmon up`: ingest and the alarm service are different broker users)."""
        if self.ingest_mqtt_username is None:
            return self
        return self.model_copy(
            update={
                "mqtt_username": self.ingest_mqtt_username,
                "mqtt_password": self.ingest_mqtt_password,
                "mqtt_password_file": self.ingest_mqtt_password_file,
            }
        )


def read_secret_file(path: Path, variable: str) -> str:
    """The secret a file holds: its one line, without the line break.

    A file of another shape (`user<TAB>password`, several lines) is refused with a
    ConfigError rather than sent as a wrong password.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(variable, 1, "", f"a readable secret file ({exc})")
        raise ConfigError([problem]) from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret or any(c in secret for c in "\t\r\n") or secret != secret.strip():
        expected = f"{path} to hold the secret alone on one line"
        raise ConfigError([Problem(variable, 1, "", expected)])
    return secret


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


@dataclass(frozen=True, slots=True)
class InfluxAddress:
    base_url: str
    database: str


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://host:port` (1883 by default) or `mqtts://host:port` (8883)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ConfigError([Problem("--broker", 1, "broker", f"mqtt://HOST:PORT, got {url!r}")])
    if parts.username or parts.password:
        raise ConfigError(
            [Problem("--broker", 1, "broker", "no credentials in the URL (HAZMON_MQTT_*)")]
        )
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


@dataclass(frozen=True, slots=True)
class NatsAddress:
    """A NATS JetStream cluster: the client URLs of its servers (docs/scale-out.md)."""

    servers: tuple[str, ...]


def is_nats_url(url: str) -> bool:
    return url.startswith(("nats://", "tls://"))


def parse_nats_url(url: str) -> NatsAddress:
    """`nats://h1:4222[,h2:4222,...]` (4222 by default): one URL per server."""
    scheme = url.split("://", 1)[0]
    hosts = url.split("://", 1)[1] if "://" in url else ""
    servers: list[str] = []
    for part in hosts.split(","):
        parts = urlsplit(f"{scheme}://{part.strip()}")
        try:
            port = parts.port or 4222
        except ValueError:
            port = -1
        if scheme not in ("nats", "tls") or not parts.hostname or port < 0 or parts.path:
            raise ConfigError(
                [Problem("--broker", 1, "broker", f"nats://HOST:PORT[,HOST:PORT...], got {url!r}")]
            )
        if parts.username or parts.password:
            raise ConfigError(
                [Problem("--broker", 1, "broker", "no credentials in the URL (HAZMON_MQTT_*)")]
            )
        servers.append(f"{scheme}://{parts.hostname}:{port}")
    return NatsAddress(tuple(servers))


def parse_influx_url(url: str) -> InfluxAddress:
    """`http://host:port/db`: the v1 HTTP API base and the database."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.hostname or not database:
        raise ConfigError([Problem("--influx", 1, "influx", f"http://HOST:PORT/DB, got {url!r}")])
    if parts.username or parts.password:
        raise ConfigError(
            [Problem("--influx", 1, "influx", "no credentials in the URL (HAZMON_INFLUX_*)")]
        )
    return InfluxAddress(f"{parts.scheme}://{parts.netloc}", database)
