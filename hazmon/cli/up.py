"""`hazmon up`, `hazmon alarms`, `hazmon demo`: the services, the HTTP API and the
console in one process (`hazmon ingest`, the ingest service alone, is ingest's own).

    hazmon up --config plant.yaml                 # embedded broker and store
    hazmon up --config plant.yaml --broker mqtt://10.0.0.5:1883 --influx http://db:8086/hazmon
    hazmon demo                                   # the demo plant, simulator attached

Order of start: settings and registry (a config error lists every problem, exit 2),
the store, the broker (embedded when no --broker), the services; the HTTP port is
bound early (so a taken port fails fast) but listens only once every service has its
MQTT subscriptions acknowledged. SIGHUP re-reads the registry: its tokens take
effect at once (hazmon.api.serving.apply_registry says what else). SIGINT or SIGTERM: the
HTTP server and the event streams end, the simulator stops, then the services are
cancelled and flush what they hold; only then do the embedded broker stop and the
store close. A second signal cancels at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hazmon.api.serving import Web
from hazmon.cli._addresses import http_option
from hazmon.cli._process import Service, config_errors, setup_logging, stop_on_signals, supervise
from hazmon.cli._process import run as run_process
from hazmon.contract.errors import ConfigError, HazmonError
from hazmon.contract.settings import BrokerAddress, NatsAddress, Settings, parse_broker_url

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from hazmon.contract.registry import Registry
    from hazmon.stores.base import Store

log = logging.getLogger("hazmon.up")
DEMO_TOKEN = "demo-admin"
DEMO_SCENARIO = "demo"
DEMO_SPEEDUP = 10  # escalation tiers and reminders come this much sooner in the demo


@dataclass(frozen=True, slots=True)
class Plan:
    """What one process runs."""

    settings: Settings
    registry: Registry
    ingest: bool = True
    scenario: str | None = None  # attach the simulator with this scenario
    broker_any_port: bool = False  # embedded broker: another port when 1883 is taken
    embedded_broker: str = "auto"  # mosquitto, amqtt, nats or auto (Mosquitto when installed)
    admin_token: str | None = None  # printed at start (demo)
    accept_truncated_journal: bool = False  # an auditor's decision, journalled
    web: Web = field(default_factory=Web)  # HTTPS and trusted proxies of the HTTP server
    chain_period_s: float = 10.0  # the chain watch's canary period; 0: no watch


# -- commands --------------------------------------------------------------------------

CONFIG = typer.Option(..., "--config", help="the site registry (YAML)")
BROKER = typer.Option(None, "--broker", help="mqtt://HOST:PORT (default: embedded broker)")
INFLUX = typer.Option(None, "--influx", help="http://HOST:PORT/DB (default: embedded store)")
DATA = typer.Option(Path("hazmon-data"), "--data", help="data folder")
HTTP = typer.Option(
    "127.0.0.1:8080", "--http", callback=http_option(8080),
    help="HOST:PORT of the API and console (a HOST alone: port 8080)",
)


class EmbeddedBroker(StrEnum):
    auto = "auto"
    mosquitto = "mosquitto"
    amqtt = "amqtt"
    nats = "nats"


EMBEDDED = typer.Option(
    EmbeddedBroker.auto, "--embedded-broker",
    help="without --broker: mosquitto, amqtt, auto (Mosquitto when installed, else amqtt), "
    "or nats (a JetStream server: ingest, an alarm worker and the API on its streams, "
    "docs/scale-out.md)",
)
BROKER_PORT = 1883  # the embedded broker's, when free
LOG_LEVEL = typer.Option("INFO", "--log-level")
CHAIN_PERIOD = typer.Option(
    10.0, "--chain-period-s", min=0.0, max=3600.0,
    help="the alarm chain's canary this often (dead after 3 periods, at least 30 s); "
    "0: no watch in this process (docs/alarms.md)",
)
ACCEPT_TRUNCATED = typer.Option(
    False, "--accept-truncated-journal",
    help="start although the journal falls short of its anchors (cut off or rewritten): "
    "only when an auditor approved; the decision is journalled",
)
TLS_CERT = typer.Option(None, "--tls-cert", help="PEM certificate (chain) file: serve HTTPS")
TLS_KEY = typer.Option(None, "--tls-key", help="the certificate's PEM private key file")
FORWARDED = typer.Option(
    "", "--forwarded-allow-ips",
    help="comma-separated addresses of reverse proxies whose X-Forwarded-For is trusted "
    "(default: none)",
)


def web_options(tls_cert: Path | None, tls_key: Path | None, forwarded_allow_ips: str) -> Web:
    """The HTTP server's options, checked (a certificate that does not load: exit 2)."""
    web = Web(tls_cert=tls_cert, tls_key=tls_key, forwarded_allow_ips=forwarded_allow_ips)
    try:
        web.check()
    except HazmonError as exc:
        typer.echo(f"hazmon: {exc}", err=True)
        raise typer.Exit(2) from None
    return web


def up(
    config: Path = CONFIG,
    broker: str | None = BROKER,
    influx: str | None = INFLUX,
    data: Path = DATA,
    http: str = HTTP,
    log_level: str = LOG_LEVEL,
    accept_truncated_journal: bool = ACCEPT_TRUNCATED,
    tls_cert: Path | None = TLS_CERT,
    tls_key: Path | None = TLS_KEY,
    forwarded_allow_ips: str = FORWARDED,
    embedded_broker: EmbeddedBroker = EMBEDDED,
    chain_period_s: float = CHAIN_PERIOD,
) -> None:
    """Run ingest, alarms and the HTTP API/console in one process."""
    settings = Settings(config=config, broker=broker, influx=influx, data=data, http=http)
    web = web_options(tls_cert, tls_key, forwarded_allow_ips)
    plan = Plan(settings, load(config), accept_truncated_journal=accept_truncated_journal,
                web=web, embedded_broker=embedded_broker.value, chain_period_s=chain_period_s)
    start(plan, log_level)


def alarms(
    config: Path = CONFIG,
    broker: str = typer.Option(
        ..., "--broker",
        help="mqtt://HOST:PORT, or nats://H1:4222[,H2:4222,...] for an alarm worker of a "
        "JetStream cluster (docs/scale-out.md)",
    ),
    influx: str | None = INFLUX,
    data: Path = DATA,
    http: str = HTTP,
    log_level: str = LOG_LEVEL,
    accept_truncated_journal: bool = ACCEPT_TRUNCATED,
    tls_cert: Path | None = TLS_CERT,
    tls_key: Path | None = TLS_KEY,
    forwarded_allow_ips: str = FORWARDED,
    partitions: int = typer.Option(
        16, "--partitions", min=1, max=1024,
        help="nats:// only: the partition count the streams are made with (fixed then)",
    ),
    worker_id: str | None = typer.Option(
        None, "--worker-id", help="nats:// only: this worker's name in logs and the journal"
    ),
    snapshot_every: int = typer.Option(
        1000, "--snapshot-every", min=1,
        help="nats:// only: a partition's snapshot after this many commits (a takeover "
        "replays about as many)",
    ),
    chain_period_s: float = CHAIN_PERIOD,
) -> None:
    """Run the alarm service and the HTTP API/console, without ingest; on nats:// an
    alarm worker of a JetStream cluster (no HTTP: the API runs on its own)."""
    from hazmon.contract.settings import is_nats_url

    settings = Settings(config=config, broker=broker, influx=influx, data=data, http=http)
    if is_nats_url(broker):
        from hazmon.cli._workers import start_workers
        from hazmon.contract.settings import parse_nats_url

        with config_errors("--broker"):
            parse_nats_url(broker)
        start_workers(settings, load(config), partitions=partitions, worker_id=worker_id,
                      snapshot_every=snapshot_every, log_level=log_level)
        return
    web = web_options(tls_cert, tls_key, forwarded_allow_ips)
    plan = Plan(settings, load(config), ingest=False,
                accept_truncated_journal=accept_truncated_journal, web=web,
                chain_period_s=chain_period_s)
    start(plan, log_level)


def demo(
    http: str = HTTP,
    data: Path = typer.Option(Path("hazmon-demo-data"), "--data"),
    broker: str | None = BROKER,
    influx: str | None = INFLUX,
    log_level: str = LOG_LEVEL,
    tls_cert: Path | None = TLS_CERT,
    tls_key: Path | None = TLS_KEY,
    forwarded_allow_ips: str = FORWARDED,
    embedded_broker: EmbeddedBroker = EMBEDDED,
) -> None:
    """`up` on the bundled demo plant with the simulator attached (scenario `demo`)."""
    web = web_options(tls_cert, tls_key, forwarded_allow_ips)
    token = os.environ.get("HAZMON_DEMO_TOKEN") or DEMO_TOKEN
    with resources.as_file(resources.files("hazmon") / "demo" / "plant.yaml") as path:
        registry = demo_registry(load(path), token)
        settings = Settings(config=path, broker=broker, influx=influx, data=data, http=http)
    plan = Plan(settings, registry, scenario=DEMO_SCENARIO, broker_any_port=True, admin_token=token,
                web=web, embedded_broker=embedded_broker.value)
    start(plan, log_level)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("alarms")(alarms)
    app.command("demo")(demo)


# -- building ----------------------------------------------------------------------------


def load(path: Path) -> Registry:
    from hazmon.contract.config import load_registry

    with config_errors(path):
        return load_registry(path)


def demo_registry(registry: Registry, token: str) -> Registry:
    """The demo plant with `token` as its admin token, and escalation 10 times faster
    (critical: next tier after 30 s instead of 300 s), so that a newcomer sees an
    unacknowledged alarm escalate within the first minute or so (docs/running.md)."""
    from hazmon.contract.registry import Auth, Token

    digest = hashlib.sha256(token.encode()).hexdigest()
    tokens = [t for t in registry.auth.tokens if t.role != "admin"]
    tokens.append(Token(name="admin", role="admin", sha256=digest))
    escalation = registry.escalation
    fast = escalation.model_copy(
        update={
            priority: [
                t.model_copy(update={"after_s": t.after_s / DEMO_SPEEDUP})
                for t in getattr(escalation, priority)
            ]
            for priority in ("critical", "high", "medium")
        }
        | {"repeat_s": escalation.repeat_s / DEMO_SPEEDUP}
    )
    return registry.model_copy(update={"auth": Auth(tokens=tokens), "escalation": fast})


# -- running -----------------------------------------------------------------------------


def start(plan: Plan, log_level: str) -> None:
    """Run the plan until SIGINT/SIGTERM; errors of hazmon's own end it with status 1."""
    from hazmon.api.serving import limit_accept_errors
    from hazmon.runtime.process import raise_open_files_limit

    setup_logging(log_level)
    from hazmon.runtime.private import private_files

    private_files()  # the data folder's files are 0600, its folders 0700, whatever the umask
    limit_accept_errors()  # out of descriptors: one log record a minute, not a flood
    soft, hard = raise_open_files_limit()
    log.info("open files: up to %d (hard limit %d)", soft, hard)
    run_process(lambda: run(plan))


async def run(plan: Plan) -> None:
    from hazmon.runtime.private import private_dir
    from hazmon.runtime.process import quick_handoffs, settle_heap
    from hazmon.stores import open_store

    stop = stop_on_signals()
    hangups = Hangups()  # SIGHUP: reload tokens and registry (once serving)
    settings = plan.settings
    async with AsyncExitStack() as stack:
        listener = _bind_http(settings.http)  # a taken port ends it before anything starts
        stack.callback(listener.close)
        private_dir(settings.data)
        store = await asyncio.to_thread(
            open_store, influx=settings.influx, data_dir=settings.data, settings=settings
        )
        stack.callback(store.close)
        address, broker_kind, nats = await _broker(plan, stack)
        services = (_jetstream_services(plan, nats, store) if nats is not None
                    else _services(plan, address, store))
        watch = (_chain_watch(plan, address if nats is None else NatsAddress(nats))
                 if plan.chain_period_s else None)
        app = _app(plan, services, address, store, watch)
        hangups.serve(lambda: _reload(plan, app, services))
        settle_heap()
        quick_handoffs()
        await _serve(plan, services, app, listener, stop, _banner(plan, address, broker_kind),
                     store, address, watch)
    log.info("stopped")


class Hangups:
    """SIGHUP reloads the registry (`_reload`). A SIGHUP before the app exists (which
    would otherwise end the process) is remembered and served once it does."""

    def __init__(self) -> None:
        self._reload: Callable[[], Awaitable[None]] | None = None
        self._asked = False
        self._tasks: set[asyncio.Task[None]] = set()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_hangup)

    def serve(self, reload: Callable[[], Awaitable[None]]) -> None:
        self._reload = reload
        if self._asked:
            self._on_hangup()

    def _on_hangup(self) -> None:
        if self._reload is None:
            self._asked = True
            return
        task = asyncio.get_running_loop().create_task(self._run(self._reload), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(reload: Callable[[], Awaitable[None]]) -> None:
        try:
            await reload()
        except Exception:  # a reload never ends the process
            log.exception("reload failed; the registry in force stays")


async def _reload(plan: Plan, app: FastAPI, services: list[tuple[str, Any]]) -> None:
    """Re-read the registry file; a file with problems is reported and not applied."""
    from hazmon.api.serving import apply_registry
    from hazmon.contract.config import load_registry

    path = plan.settings.config
    if path is None:
        log.warning("reload: no registry file to re-read")
        return
    try:
        fresh = await asyncio.to_thread(load_registry, path)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("reload: %d problem(s) in %s; the registry in force stays",
                  len(exc.problems), path)
        return
    if plan.admin_token:
        fresh = demo_registry(fresh, plan.admin_token)
    done = await apply_registry(app, fresh, [service for _, service in services])
    log.info("reloaded %s: %s", path, done)


def _bind_http(http: str) -> socket.socket:
    """Bind (not yet listen) the HTTP port, so a taken port fails before anything starts."""
    host, _, port = http.rpartition(":")
    sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]") or "127.0.0.1", int(port)))
    except (OSError, ValueError) as exc:
        sock.close()
        raise HttpPortError(f"cannot open the HTTP port {http} ({exc})") from exc
    return sock


class HttpPortError(HazmonError):
    """The HTTP address is taken or not valid."""


async def _broker(
    plan: Plan, stack: AsyncExitStack
) -> tuple[BrokerAddress, str, tuple[str, ...] | None]:
    """The MQTT address gateways publish to, what it is, and the NATS servers of the
    JetStream profile (None: the services use MQTT)."""
    if plan.settings.broker:
        return parse_broker_url(plan.settings.broker), "external", None
    if plan.embedded_broker == "nats":
        from hazmon.broker.nats_server import embedded_nats

        box = await stack.enter_async_context(embedded_nats(
            data_dir=plan.settings.data, mqtt_port=BROKER_PORT,
            or_any_free_port=plan.broker_any_port))
        return box.mqtt, f"embedded nats-server, JetStream at {box.url}", box.servers
    from hazmon.broker import embedded_broker

    kind: Any = None if plan.embedded_broker == "auto" else plan.embedded_broker
    running = await stack.enter_async_context(
        embedded_broker(data_dir=plan.settings.data, port=BROKER_PORT, kind=kind,
                        or_any_free_port=plan.broker_any_port)
    )
    if running.address.port != BROKER_PORT:
        log.warning("port %d is in use (another MQTT broker?); the embedded broker listens "
                    "on %d instead", BROKER_PORT, running.address.port)
        return running.address, (
            f"embedded {running.kind}; port {BROKER_PORT} was in use, so port "
            f"{running.address.port}"
        ), None
    return running.address, f"embedded {running.kind}", None


def _services(plan: Plan, address: BrokerAddress, store: Store) -> list[tuple[str, Any]]:
    common: dict[str, Any] = {
        "registry": plan.registry, "broker": address, "settings": plan.settings,
        "store": store, "data_dir": plan.settings.data,
    }
    services: list[tuple[str, Any]] = []
    if plan.ingest:
        from hazmon.ingest.service import IngestService

        ingest_settings = plan.settings.for_ingest()  # its own broker user, if given
        if ingest_settings is plan.settings and plan.settings.mqtt_username is not None:
            log.warning("ingest and the alarm service share the broker user %s: give ingest "
                        "its own (HAZMON_INGEST_MQTT_USERNAME, HAZMON_INGEST_MQTT_PASSWORD_FILE)",
                        plan.settings.mqtt_username)  # fmt: skip
        services.append(("ingest", IngestService(**(common | {"settings": ingest_settings}))))
    from hazmon.alarms.service import AlarmService
    from hazmon.runtime.faults import PROCESS

    services.append(("alarms", AlarmService(
        **common, faults=PROCESS, accept_truncated_journal=plan.accept_truncated_journal)))
    return services


def _jetstream_services(
    plan: Plan, servers: tuple[str, ...], store: Store
) -> list[tuple[str, Any]]:
    """The JetStream profile on one box: ingest, one alarm worker (it owns every
    partition) and the API's desk, which reads the partitions' changelogs and sends
    operator actions to the worker, as on a cluster (docs/scale-out.md, "One box")."""
    from hazmon.alarms.cluster_desk import ClusterDesk
    from hazmon.alarms.workers import AlarmWorkers
    from hazmon.bus.jetstream import default_plan
    from hazmon.contract.settings import NatsAddress
    from hazmon.ingest.service import IngestService

    settings, data = plan.settings, plan.settings.data
    services: list[tuple[str, Any]] = []
    if plan.ingest:
        services.append(("ingest", IngestService(
            registry=plan.registry, broker=NatsAddress(servers), settings=settings,
            store=store, data_dir=data)))
    services.append(("alarms", AlarmWorkers(
        registry=plan.registry, servers=servers, settings=settings, store=store,
        data_dir=data / "alarms", plan=default_plan(len(servers)), worker_id="up")))
    services.append(("desk", ClusterDesk(
        registry=plan.registry, servers=servers, data_dir=data / "api", store=store,
        name="up")))
    return services


def _chain_watch(plan: Plan, address: BrokerAddress | NatsAddress) -> Any:
    """The alarm chain's watch (docs/alarms.md, "The alarm chain watched"), on a thread
    and a broker connection of its own: an alarm service or event loop of this process
    that hangs is found out (a frozen or dead process needs `hazmon watch` elsewhere).
    On JetStream its canaries go through every partition."""
    from hazmon.alarms.watch import ChainWatch

    return ChainWatch(registry=plan.registry, broker=address, settings=plan.settings,
                      name=f"up-{socket.gethostname()}", period_s=plan.chain_period_s,
                      deadline_s=max(30.0, 3 * plan.chain_period_s))


def _app(
    plan: Plan, services: list[tuple[str, Any]], address: BrokerAddress, store: Store,
    watch: Any = None,
) -> FastAPI:
    from hazmon.api.app import create_app
    from hazmon.api.hardening import HardeningSettings, harden

    named = dict(services)
    # the API works with the alarm service's desk; on JetStream with the cluster's
    desk = named["desk"] if "desk" in named else named["alarms"].desk
    metrics: list[CollectorRegistry] = [s.metrics_registry for _, s in services
                                        if hasattr(s, "metrics_registry")]
    if watch is not None:
        metrics.append(watch.metrics_registry)
    hardening = HardeningSettings()
    app = create_app(registry=plan.registry, desk=desk, store=store, metrics=metrics,
                     health=_health(address, store), stream_caps=hardening.stream_caps,
                     chain=watch.status if watch is not None else None)
    harden(app, hardening)  # headers, body limit, slowed failing guesses, CORS
    return app


def _health(address: BrokerAddress, store: Store) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        try:
            with socket.create_connection((address.host, address.port), timeout=1.0):
                broker_ok = True
        except OSError:
            broker_ok = False
        try:
            store_ok = store.ping()
        except HazmonError:
            store_ok = False
        return {"broker": broker_ok, "store": store_ok}

    return check


def _banner(plan: Plan, address: BrokerAddress, broker_kind: str) -> Iterator[str]:
    settings = plan.settings
    host, _, port = settings.http.rpartition(":")
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "[::]", "::") else host
    yield f"hazmon console:  {plan.web.scheme}://{shown}:{port}/   (API docs: /docs)"
    if plan.admin_token:
        yield f"admin token:     {plan.admin_token}"
    yield f"MQTT broker:     mqtt://{address.host}:{address.port} ({broker_kind})"
    yield f"store:           {settings.influx or f'embedded, in {settings.data}'}"
    if plan.scenario:
        yield f"simulator:       scenario {plan.scenario!r} on every gateway of the plant"
    yield "stop with Ctrl-C (or SIGTERM): everything held is flushed first"


async def _serve(
    plan: Plan, services: list[tuple[str, Service]], app: FastAPI,
    listener: socket.socket, stop: asyncio.Event, banner: Iterator[str], store: Store,
    mqtt: BrokerAddress | None = None, watch: Any = None,
) -> None:
    """The services, then (once all are subscribed) the HTTP server and the demo's
    simulator, until a signal; those stop first, then the services flush."""
    from hazmon.runtime.faults import PROCESS
    from hazmon.stores.retention import retention_job

    keep = retention_job(store, plan.settings.retention_days, faults=PROCESS)

    async def front(group: asyncio.TaskGroup) -> list[Callable[[], Awaitable[None]]]:
        stoppers = [await _start_http(group, app, listener, plan.web)]
        if watch is not None:  # every service is subscribed: canaries are answered
            watch.start_thread()

            async def stop_watch() -> None:
                await asyncio.to_thread(watch.stop_thread)

            stoppers.append(stop_watch)
        if plan.scenario:
            assert mqtt is not None, "the simulator needs the gateways' MQTT address"
            stoppers.append(_start_simulator(group, plan, mqtt))
        for line in banner:
            typer.echo(line)
        return stoppers

    await supervise(services, stop, extra=[("retention", keep)] if keep else [],
                    when_ready=front)


async def _start_http(
    group: asyncio.TaskGroup, app: FastAPI, listener: socket.socket, web: Web = Web()
) -> Callable[[], Awaitable[None]]:
    import uvicorn

    from hazmon.api.app import stop_streams
    from hazmon.api.serving import uvicorn_config

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # hazmon handles SIGINT/SIGTERM for the whole process

    server = Server(uvicorn_config(app, web))
    task = group.create_task(server.serve(sockets=[listener]), name="http")
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)

    async def stop_http() -> None:
        stop_streams(app)
        server.should_exit = True
        await task

    return stop_http


def _start_simulator(
    group: asyncio.TaskGroup, plan: Plan, address: BrokerAddress
) -> Callable[[], Awaitable[None]]:
    """The demo's simulator, publishing where the gateways do (`address`)."""
    from hazmon.simulators.runner import run_simulation

    done = asyncio.Event()
    task = group.create_task(
        run_simulation(registry=plan.registry, broker=address, settings=plan.settings,
                       scenario=plan.scenario or DEMO_SCENARIO, rate_hz=1.0, seed=1, stop=done),
        name="simulator",
    )

    async def stop_simulator() -> None:
        done.set()
        await task

    return stop_simulator
