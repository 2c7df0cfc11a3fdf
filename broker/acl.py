"""A Mosquitto configuration for a registry: who may publish and read what.

    plan = plan_broker(registry, listen=Address("0.0.0.0", 1883))
    written = write_broker_config(plan, Path("broker-auth"))   # mosquitto.conf, passwd,
    written.new_secrets                                        # passwd-services, acl

Users (the names of deploy/mosquitto/acl.example; where the two differ, these win):

    {site}.{gateway}   one per gateway: writes its own telemetry and state, reads nothing
    hazmon-ingest      reads every gateway's telemetry and state (also as $share/...)
    hazmon-alarms      `hazmon alarms`, `hazmon up` and `hazmon watch`: reads telemetry and
                       state; writes alarms, risk, the journal head and the registry's
                       MQTT notifier topics; reads back risk and the head (retained); the
                       alarm chain's canary and echo, the watch's verdict, and reads
                       Mosquitto's drop counter ($SYS/broker/publish/messages/dropped)
    hazmon-simulator   only with simulator=True: writes telemetry and state of the
                       registry's gateways (never on a broker real gateways use)
    hazmon-observer    only with observer=True: reads everything under hazmon/v1/

Two kinds of listener (hazmon.broker.conf writes them):

- the plant listeners (`listen`, and `tls_listen` with certificates) take the
  gateways and the observer (`passwd`), with `use_username_as_clientid`: a client's
  id is its user name, so no broker user can take another's session (Mosquitto
  closes the older connection of a client id taken over);
- the service listener (`service_listen`, loopback by default) takes only hazmon's
  own services (`passwd-services`): ingest replicas share a user on a shared
  subscription, the alarm service has a second, publishing connection and the
  simulator one per gateway, so their ids cannot be their user names; no plant user
  can log in there to take them over.

Nobody connects without a user (`allow_anonymous false`). Nobody may write to another
gateway's topics, and no gateway may write where the alarm service writes, so a
gateway cannot inject readings for a site it is not, nor forge alarms or risk grades.
Passwords are made and hashed in hazmon.broker.passwd (with `mosquitto_passwd`, never on a
command line); this module plans the users and writes the three files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hazmon.broker.conf import conf_text, listener_warnings
from hazmon.broker.passwd import (
    Owner,
    Passwords,
    plan_passwords,
    read_hashes,
    resolve_owner,
    unreachable,
    write_file,
)
from hazmon.contract import topics
from hazmon.contract.errors import HazmonError
from hazmon.contract.registry import Registry

Access = Literal["read", "write", "readwrite"]

INGEST_USER = "hazmon-ingest"
ALARMS_USER = "hazmon-alarms"
SIMULATOR_USER = "hazmon-simulator"
OBSERVER_USER = "hazmon-observer"
SERVICE_USERS = (INGEST_USER, ALARMS_USER, SIMULATOR_USER, OBSERVER_USER)
SERVICE_LISTENER_USERS = frozenset({INGEST_USER, ALARMS_USER, SIMULATOR_USER})
DEFAULT_SERVICE_LISTEN_PORT = 1884

MAX_QUEUED_MESSAGES = 100_000  # docs/contract.md §2: Mosquitto's default of 1000 drops silently
DEFAULT_MAX_PACKET_BYTES = 2 * 1024 * 1024  # 1 MiB is refused by hazmon (dead-lettered)
CONF_NAME = "mosquitto.conf"
PASSWD_NAME = "passwd"
SERVICE_PASSWD_NAME = "passwd-services"
ACL_NAME = "acl"

# A topic the ACL file can hold: no wildcard, no control character, no space (the
# file has no quoting), not a broker topic ($SYS...).
_PLAIN_TOPIC = re.compile(r"^[^\s+#$\x00-\x1f\x7f][^\s+#\x00-\x1f\x7f]{0,1023}$")
_GATEWAY_TOPIC = re.compile(r"^hazmon/v1/[^/]+/[^/]+/(telemetry|state)$")


class BrokerConfigError(HazmonError):
    """The registry or the options cannot make a safe broker configuration."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("\n".join(self.reasons))


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, default_port: int) -> Address:
        """`HOST:PORT`, `HOST`, `:PORT` or `[IPv6]:PORT`."""
        host, port = text, ""
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":")
        elif text.count(":") == 1:
            host, port = text.split(":")
        try:
            number = int(port) if port else default_port
        except ValueError:
            raise BrokerConfigError([f"HOST:PORT with a numeric port, got {text!r}"]) from None
        if not 0 < number < 65536:
            raise BrokerConfigError([f"a port from 1 to 65535, got {number} in {text!r}"])
        return cls(host or "0.0.0.0", number)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths as the broker sees them (PEM). `ca` is the CA the clients trust."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True)
class BrokerUser:
    name: str
    what: str  # a comment for the ACL file
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class BrokerPlan:
    users: tuple[BrokerUser, ...]
    listen: Address | None
    tls_listen: Address | None = None
    tls: TlsFiles | None = None
    max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES
    source: str = "the registry"
    max_queued: int = MAX_QUEUED_MESSAGES
    service_listen: Address = Address("127.0.0.1", DEFAULT_SERVICE_LISTEN_PORT)

    @property
    def user_names(self) -> list[str]:
        return [u.name for u in self.users]

    def on_service_listener(self, user: str) -> bool:
        return user in SERVICE_LISTENER_USERS


def gateway_user(site: str, gateway: str) -> str:
    return f"{site}.{gateway}"


def plan_broker(
    registry: Registry,
    *,
    listen: Address | None,
    tls_listen: Address | None = None,
    tls: TlsFiles | None = None,
    simulator: bool = False,
    observer: bool = False,
    max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES,
    source: str = "the registry",
    max_queued: int = MAX_QUEUED_MESSAGES,
    service_listen: Address | None = None,
) -> BrokerPlan:
    """Users and rules for `registry`; BrokerConfigError lists every reason it cannot."""
    reasons: list[str] = []
    service_listen = service_listen or Address("127.0.0.1", DEFAULT_SERVICE_LISTEN_PORT)
    if listen is None and tls is None:
        reasons.append("at least one listener: a plain one (--listen) or TLS (--tls-*)")
    if tls is not None and tls_listen is None:
        tls_listen = Address("0.0.0.0", 8883)
    ports = [a.port for a in (listen, tls_listen if tls else None, service_listen) if a]
    if len(set(ports)) != len(ports):
        reasons.append(f"the plain, TLS and service listeners on different ports, got {ports}")
    if max_packet_bytes != 0 and max_packet_bytes < 64 * 1024:
        reasons.append("a packet limit of at least 64 KiB (or 0 for none)")
    if max_queued < MAX_QUEUED_MESSAGES:
        reasons.append(f"a queue of at least {MAX_QUEUED_MESSAGES:,} messages per client "
                       "(docs/contract.md §2)")
    gateways = _gateway_users(registry, reasons)
    notify_topics = _notifier_topics(registry, reasons)
    if reasons:
        raise BrokerConfigError(reasons)
    users = [*gateways, _ingest(), _alarms(notify_topics)]
    if simulator:
        users.append(_simulator(registry))
    if observer:
        users.append(_observer())
    return BrokerPlan(
        users=tuple(users),
        listen=listen,
        tls_listen=tls_listen if tls is not None else None,
        tls=tls,
        max_packet_bytes=max_packet_bytes,
        source=source,
        max_queued=max_queued,
        service_listen=service_listen,
    )


def _gateway_users(registry: Registry, reasons: list[str]) -> list[BrokerUser]:
    users: list[BrokerUser] = []
    owners: dict[str, str] = {}
    for site in registry.sites:
        for gw in site.gateways:
            name = gateway_user(site.id, gw.id)
            where = f"gateway {gw.id!r} of site {site.id!r}"
            if name in owners:
                reasons.append(
                    f"one broker user per gateway, but {where} and {owners[name]} would both "
                    f"be {name!r} (ids with dots): rename one of them"
                )
                continue
            owners[name] = where
            rules = (
                Rule("write", topics.telemetry(site.id, gw.id)),
                Rule("write", topics.state(site.id, gw.id)),
            )
            users.append(BrokerUser(name, f"{where}: its own telemetry and state", rules))
    return users


def _notifier_topics(registry: Registry, reasons: list[str]) -> list[str]:
    found: list[str] = []
    for name, notifier in sorted(registry.notifiers.items()):
        topic = notifier.mqtt
        if topic is None:
            continue
        if not _PLAIN_TOPIC.match(topic):
            reasons.append(
                f"notifiers.{name}.mqtt: a plain topic (no wildcard, space or control "
                f"character, not starting with $), got {topic!r}"
            )
        elif _GATEWAY_TOPIC.match(topic):
            reasons.append(
                f"notifiers.{name}.mqtt: a topic outside the gateways' telemetry and state, "
                f"got {topic!r} (the alarm service would be able to forge readings)"
            )
        elif topic not in found:
            found.append(topic)
    return found


def _ingest() -> BrokerUser:
    rules = (Rule("read", topics.TELEMETRY_WILDCARD), Rule("read", topics.STATE_WILDCARD))
    return BrokerUser(INGEST_USER, "hazmon ingest: reads what gateways send", rules)


def _alarms(notify_topics: list[str]) -> BrokerUser:
    rules = [
        Rule("read", topics.TELEMETRY_WILDCARD),
        Rule("read", topics.STATE_WILDCARD),
        Rule("write", topics.ALARMS_WILDCARD),
        Rule("readwrite", topics.RISK_WILDCARD),
        Rule("readwrite", topics.JOURNAL_HEAD),
        *(Rule("write", t) for t in notify_topics),
        # the alarm chain watched (`hazmon watch`, or in `hazmon up`): canary and echo,
        # the watch's verdict, and the broker's drop counter
        Rule("readwrite", f"{topics.ROOT}/_system/canary/#"),
        Rule("readwrite", f"{topics.ROOT}/_system/chain/#"),
        Rule("read", topics.BROKER_DROPPED),
    ]
    what = "hazmon alarms / hazmon up: reads what gateways send, publishes alarms and risk"
    return BrokerUser(ALARMS_USER, what, tuple(rules))


def _simulator(registry: Registry) -> BrokerUser:
    rules: list[Rule] = []
    for site in registry.sites:
        for gw in site.gateways:
            rules.append(Rule("write", topics.telemetry(site.id, gw.id)))
            rules.append(Rule("write", topics.state(site.id, gw.id)))
    what = "hazmon simulate: speaks for every gateway. Never on a broker real gateways use"
    return BrokerUser(SIMULATOR_USER, what, tuple(rules))


def _observer() -> BrokerUser:
    what = "read-only feed (dashboards, a regulator's platform): reads, never writes"
    return BrokerUser(OBSERVER_USER, what, (Rule("read", f"{topics.ROOT}/#"),))


# -- the texts ---------------------------------------------------------------------------


def acl_text(plan: BrokerPlan) -> str:
    lines = [
        f"# Written by `hazmon broker-config` from {plan.source}: regenerate, don't edit.",
        "# A user may do what its lines allow and nothing else; anonymous clients are",
        "# refused by mosquitto.conf. Mosquitto reads this file as its `mosquitto` user.",
    ]
    for user in plan.users:
        lines += ["", f"# {user.what}", f"user {user.name}"]
        lines += [f"topic {rule.access} {rule.topic}" for rule in user.rules]
    return "\n".join(lines) + "\n"


# -- the files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    conf: Path
    passwd: Path
    acl: Path
    passwords: Passwords
    owner: Owner | None
    warnings: list[str]
    service_passwd: Path | None = None

    @property
    def new_secrets(self) -> dict[str, str]:
        return self.passwords.new_secrets


def write_broker_config(
    plan: BrokerPlan,
    out_dir: Path,
    *,
    owner: str | None = None,
    auth_dir: Path | None = None,
    data_dir: Path | None = None,
    rotate: Sequence[str] = (),
) -> Written:
    """Write mosquitto.conf, passwd and passwd-services (0600) and acl (0640) into `out_dir`.

    `auth_dir` and `data_dir` are where the broker will find the files and keep its
    queue (default: `out_dir` and `out_dir/data`, for a broker on this machine; for a
    container, its mount points). The files are given to `owner` (the broker's user).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    others = sorted(p.name for p in out_dir.glob("*.conf") if p.name != CONF_NAME)
    if others:
        raise BrokerConfigError(
            [
                f"{out_dir} holds other .conf files ({', '.join(others)}): Mosquitto must see "
                f"exactly one; move them away or choose another --out"
            ]
        )
    who = resolve_owner(owner)
    passwd, acl, conf = out_dir / PASSWD_NAME, out_dir / ACL_NAME, out_dir / CONF_NAME
    service_passwd = out_dir / SERVICE_PASSWD_NAME
    existing = read_hashes(passwd) | read_hashes(service_passwd)
    passwords = plan_passwords(plan.user_names, existing, rotate=rotate, workdir=out_dir)
    broker_auth = auth_dir or out_dir.resolve()
    broker_data = data_dir or (out_dir / "data").resolve()
    if data_dir is None:
        (out_dir / "data").mkdir(mode=0o700, exist_ok=True)
        if who is not None:
            os.chown(out_dir / "data", who.uid, who.gid)
    for path, on_service in ((passwd, False), (service_passwd, True)):
        lines = [line for user, line in passwords.lines.items()
                 if plan.on_service_listener(user) == on_service]  # fmt: skip
        write_file(path, "".join(f"{line}\n" for line in lines), mode=0o600, owner=who)
    write_file(acl, acl_text(plan), mode=0o640, owner=who)
    write_file(
        conf, conf_text(plan, auth_dir=broker_auth, data_dir=broker_data), mode=0o644, owner=None
    )
    warnings = listener_warnings(plan) + _warnings(plan, out_dir, who, auth_dir)
    return Written(conf, passwd, acl, passwords, who, warnings, service_passwd)


def _warnings(
    plan: BrokerPlan, out_dir: Path, who: Owner | None, auth_dir: Path | None
) -> list[str]:
    paths: list[Path] = []
    if auth_dir is None:
        paths += [out_dir / PASSWD_NAME, out_dir / SERVICE_PASSWD_NAME, out_dir / ACL_NAME]
    if plan.tls is not None:
        paths += [plan.tls.cert, plan.tls.key, plan.tls.ca]
    found: list[str] = []
    for path in paths:
        if not path.exists():
            found.append(f"{path} is not on this machine: make sure the broker finds it")
            continue
        reason = unreachable(path, who)
        if reason is not None:
            found.append(f"the broker could not read {path}: {reason}")
    return found


__all__ = [
    "ACL_NAME",
    "ALARMS_USER",
    "CONF_NAME",
    "DEFAULT_SERVICE_LISTEN_PORT",
    "INGEST_USER",
    "MAX_QUEUED_MESSAGES",
    "OBSERVER_USER",
    "PASSWD_NAME",
    "SERVICE_LISTENER_USERS",
    "SERVICE_PASSWD_NAME",
    "SERVICE_USERS",
    "SIMULATOR_USER",
    "Address",
    "BrokerConfigError",
    "BrokerPlan",
    "BrokerUser",
    "Rule",
    "TlsFiles",
    "Written",
    "acl_text",
    "conf_text",
    "gateway_user",
    "plan_broker",
    "write_broker_config",
]
