"""Connecting hazmon's own MQTT clients (paho-mqtt 2), per docs/contract.md §2.

- MQTT 5 when the broker offers it (Receive Maximum 65535, session expiry), falling
  back to 3.1.1 (persistent session: clean_session false) when it refuses or gives no
  CONNACK within MQTT5_PROBE_S (1 s). The protocol a broker accepted is remembered per
  host and port, so only a process's first connection probes; the embedded amqtt broker
  is known to speak 3.1.1 only (`remember_protocol`), so nothing probes it.
- Credentials and TLS come from Settings (environment or files), never from argv.
- A stable client id per data folder, so a restart resumes the broker session.
- paho's network thread reconnects by itself with exponential backoff; the first
  connection is retried here with jittered exponential backoff.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hazmon.bus.backoff import Backoff
from hazmon.contract.errors import HazmonError
from hazmon.contract.settings import BrokerAddress, Settings

log = logging.getLogger(__name__)

MQTT_V5 = paho.MQTTv5
MQTT_V311 = paho.MQTTv311


# The protocol each broker (host, port) accepted, so that only the first connection to
# an MQTT 3.1.1-only broker (amqtt never answers an MQTT 5 CONNECT) waits to fall back.
_KNOWN_PROTOCOL: dict[tuple[str, int], int] = {}

# How long an MQTT 5 CONNECT to a broker not known to speak it waits for its CONNACK
# before the connection is closed and 3.1.1 is tried.
MQTT5_PROBE_S = 1.0


def remember_protocol(host: str, port: int, protocol: int) -> None:
    """Tell the connection helper which protocol a broker speaks (e.g. the embedded one)."""
    _KNOWN_PROTOCOL[(host, port)] = protocol


class MqttError(HazmonError):
    """The broker could not be reached or refused the connection."""


@dataclass(frozen=True, slots=True)
class MqttOptions:
    host: str
    port: int
    client_id: str = ""
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    session_expiry_s: int = 300
    clean_start: bool = False
    keepalive_s: int = 30
    max_inflight: int = 1000

    @classmethod
    def build(
        cls, broker: BrokerAddress, settings: Settings | None, *, client_id: str, **extra: Any
    ) -> MqttOptions:
        s = settings or Settings()
        return cls(
            host=broker.host,
            port=broker.port,
            client_id=client_id,
            tls=broker.tls or s.mqtt_ca_file is not None,
            username=s.mqtt_username,
            password=s.mqtt_secret(),
            ca_file=s.mqtt_ca_file,
            cert_file=s.mqtt_cert_file,
            key_file=s.mqtt_key_file,
            session_expiry_s=s.session_expiry_s,
            **extra,
        )


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def stable_client_id(data_dir: Path, role: str) -> str:
    """A client id kept in the data folder, so that a restart resumes the session.

    The folder is 0700 and the file 0600: the id is not a secret the broker checks,
    but nobody else on the host needs it.
    """
    from hazmon.runtime.private import private_dir, tighten, write_private

    private_dir(data_dir)
    path = data_dir / f"{role}.client-id"
    if path.exists():
        tighten(path)
        return path.read_text(encoding="utf-8").strip()
    client_id = f"hazmon-{role}-{uuid.uuid4().hex[:10]}"
    write_private(path, client_id + "\n")
    return client_id


def new_client(opts: MqttOptions, *, protocol: int, manual_ack: bool = False) -> paho.Client:
    """A configured, not yet connected client."""
    if protocol == MQTT_V5:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=opts.client_id,
            protocol=MQTT_V5,
            manual_ack=manual_ack,
        )
    else:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=opts.client_id,
            protocol=MQTT_V311,
            clean_session=opts.clean_start if opts.client_id else True,
            manual_ack=manual_ack,
        )
    if opts.username is not None:
        client.username_pw_set(opts.username, opts.password)
    if opts.tls:
        client.tls_set(
            ca_certs=str(opts.ca_file) if opts.ca_file else None,
            certfile=str(opts.cert_file) if opts.cert_file else None,
            keyfile=str(opts.key_file) if opts.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.max_inflight_messages_set(opts.max_inflight)
    client.max_queued_messages_set(0)  # paho's own outgoing queue: unbounded only while offline
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.on_socket_open = _no_delay
    return client


def _no_delay(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    """Send small packets at once (TCP_NODELAY): an alarm event or a PUBACK must not
    wait for the acknowledgement of the previous segment (Nagle's algorithm), which
    on Linux can mean the peer's delayed-ACK timer, 40 ms."""
    with contextlib.suppress(OSError, AttributeError):  # not TCP: unix socket, websockets
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect_properties(opts: MqttOptions) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = opts.session_expiry_s
    props.ReceiveMaximum = 65535
    return props


def set_will(client: paho.Client, will: Will | None) -> None:
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)


def send_connect(
    client: paho.Client, opts: MqttOptions, protocol: int, *, clean_start: bool | None = None
) -> str | None:
    """Send CONNECT (MQTT 5 with `connect_properties`, else 3.1.1); None once it is sent.

    Otherwise why the broker cannot be reached ("cannot reach host:port (...)").
    `clean_start` None: the options' own for a stable client id, else a clean start.
    """
    if clean_start is None:
        clean_start = opts.clean_start if opts.client_id else True
    if protocol == MQTT_V5 and _KNOWN_PROTOCOL.get((opts.host, opts.port)) != MQTT_V5:
        _close_without_connack(client, MQTT5_PROBE_S)
    try:
        if protocol == MQTT_V5:
            client.connect(
                opts.host,
                opts.port,
                keepalive=opts.keepalive_s,
                clean_start=clean_start,
                properties=connect_properties(opts),
            )
        else:
            client.connect(opts.host, opts.port, keepalive=opts.keepalive_s)
    except (OSError, ssl.SSLError) as exc:
        return f"cannot reach {opts.host}:{opts.port} ({exc})"
    return None


def _close_without_connack(client: paho.Client, after_s: float) -> None:
    """Close the connection if no CONNACK came within `after_s`: the caller's
    on_disconnect then ends its wait ("closed before CONNACK") and 3.1.1 is tried."""
    answered = threading.Event()
    callback = client.on_connect

    def on_connect(*args: Any) -> None:
        answered.set()
        if callback is not None:
            callback(*args)

    def give_up() -> None:
        if not answered.is_set():
            log.debug("no MQTT 5 CONNACK within %g s; trying MQTT 3.1.1", after_s)
            with contextlib.suppress(OSError, ValueError):
                client.disconnect()

    client.on_connect = on_connect
    timer = threading.Timer(after_s, give_up)
    timer.daemon = True
    timer.start()


_learning = threading.Lock()


def _learned(opts: MqttOptions, protocol: int, *, probed: bool) -> None:
    """Remember the broker's protocol; say once per broker that it is not MQTT 5."""
    with _learning:
        new = (opts.host, opts.port) not in _KNOWN_PROTOCOL
        remember_protocol(opts.host, opts.port, protocol)
    if new and probed and protocol == MQTT_V311:
        log.info("broker %s:%d does not answer MQTT 5; using 3.1.1", opts.host, opts.port)


def known_protocols(opts: MqttOptions) -> tuple[int, ...]:
    """The protocols to try with this broker: the one it accepted before, else 5 then 3.1.1."""
    known = _KNOWN_PROTOCOL.get((opts.host, opts.port))
    return (known,) if known is not None else (MQTT_V5, MQTT_V311)


def retry_connect(
    opts: MqttOptions,
    attempt: Callable[[int], str],
    *,
    attempts: int,
    protocols: Sequence[int] | None = None,
) -> int:
    """Call `attempt(protocol)` ("ok", else why not) until one connects; that protocol.

    Each round tries `protocols` in order (default `known_protocols`: MQTT 5, then
    3.1.1, unless the broker's is known), skipping the rest when the broker cannot be
    reached or refuses the credentials; rounds are separated by a jittered exponential
    backoff. MqttError with the last reason after `attempts` rounds.
    """
    if protocols is None:
        protocols = known_protocols(opts)
    backoff = Backoff(min_s=0.5, max_s=10.0)
    reason = ""
    for round_no in range(attempts):
        for protocol in protocols:
            reason = attempt(protocol)
            if reason == "ok":
                _learned(opts, protocol, probed=len(protocols) > 1)
                return protocol
            if reason.startswith("cannot reach") or "authori" in reason.lower():
                break  # no point in trying the other protocol
        if round_no + 1 < attempts:
            time.sleep(backoff.next_delay_s())
    raise MqttError(f"MQTT broker {opts.host}:{opts.port}: {reason}")


class _Outcome:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: str | None = None
        self.ok = False


MessageHandler = Callable[[paho.Client, Any, paho.MQTTMessage], None]


def _try_connect(
    opts: MqttOptions,
    protocol: int,
    *,
    manual_ack: bool,
    will: Will | None,
    timeout_s: float,
    on_message: MessageHandler | None = None,
) -> tuple[paho.Client | None, str]:
    client = new_client(opts, protocol=protocol, manual_ack=manual_ack)
    set_will(client, will)
    if on_message is not None:
        # before CONNECT: a resumed session delivers what the broker held right after CONNACK
        client.on_message = on_message
    outcome = _Outcome()

    def on_connect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        outcome.ok = not rc.is_failure
        outcome.reason = str(rc)
        outcome.event.set()

    def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if not outcome.event.is_set():
            outcome.reason = f"closed before CONNACK ({rc})"
            outcome.event.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    unreachable = send_connect(client, opts, protocol)
    if unreachable is not None:
        return None, unreachable
    client.loop_start()
    if not outcome.event.wait(timeout_s):
        outcome.reason = "no CONNACK in time"
    if outcome.ok:
        client.on_connect = None
        client.on_disconnect = None
        return client, "ok"
    client.disconnect()
    client.loop_stop()
    return None, outcome.reason or "refused"


def connect(
    opts: MqttOptions,
    *,
    manual_ack: bool = False,
    will: Will | None = None,
    timeout_s: float = 10.0,
    attempts: int = 5,
    on_message: MessageHandler | None = None,
) -> tuple[paho.Client, int]:
    """Connect (MQTT 5, else 3.1.1) with the network loop running; (client, protocol).

    `on_message` is set before CONNECT, so that messages a resumed persistent session
    delivers right after CONNACK are not lost. Reconnect callbacks are the caller's to
    set afterwards; subscribe in an `on_connect` as well, so that a reconnect without a
    kept session subscribes again.
    """
    connected: list[paho.Client] = []

    def attempt(protocol: int) -> str:
        client, reason = _try_connect(
            opts,
            protocol,
            manual_ack=manual_ack,
            will=will,
            timeout_s=timeout_s,
            on_message=on_message,
        )
        if client is not None:
            connected.append(client)
        return reason

    protocol = retry_connect(opts, attempt, attempts=attempts)
    return connected[0], protocol


def close_client(client: paho.Client) -> None:
    """Disconnect, stop the network thread and close every socket paho holds.

    paho's `disconnect()` + `loop_stop()` leave its socket pair for waking the loop
    open until garbage collection (a ResourceWarning); closing them here keeps a
    long-running process's file descriptors bounded.
    """
    with contextlib.suppress(OSError, ValueError):
        client.disconnect()
    client.loop_stop()
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()
