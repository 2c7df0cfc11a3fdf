"""Real Mosquitto and InfluxDB servers for the integration tier. No mocks.

Each server runs Debian's own binary (``/usr/sbin/mosquitto``, ``/usr/bin/influxd``;
``scripts/test`` installs them) with a generated config in a private temp folder,
listening on 127.0.0.1 on free ports. ``restart()`` keeps the ports and the data, so
a test can prove that a client reconnects and that nothing was lost.

    with Mosquitto() as broker:   # started on entry, stopped and removed on exit
        ... broker.url ...        # mqtt://127.0.0.1:PORT

Processes are always cleaned up: ``close()`` (or the context manager, or the pytest
fixtures in conftest.py) stops them, and an atexit hook catches anything left over.
Only the standard library and httpx are used.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

MOSQUITTO_BIN = Path("/usr/sbin/mosquitto")
INFLUXD_BIN = Path("/usr/bin/influxd")

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30


class ServerError(RuntimeError):
    """Base of the errors raised by these helpers."""


class ServerNotInstalledError(ServerError):
    """The server binary is missing; ``scripts/test`` installs it."""

    def __init__(self, binary: Path, package: str) -> None:
        self.binary = binary
        self.package = package
        super().__init__(
            f"{binary} not found (Debian package {package!r}). Run the tests with "
            f"scripts/test, which installs the servers the integration tier needs."
        )


class ServerStartError(ServerError):
    """The server did not come up in time; the message carries the tail of its log."""

    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"{name} did not start: {reason}\n{log_tail}")


class InfluxQueryError(ServerError):
    """InfluxDB answered a query with an error."""

    def __init__(self, query: str, message: str) -> None:
        self.query = query
        self.message = message
        super().__init__(f"InfluxDB query failed: {message} (query: {query})")


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (bind to 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a listening TCP socket on `port` (Linux /proc).

    Readiness checks use this first, so that another process answering on the port
    (a free port grabbed in between, a stale server) is never taken for ours.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    if not inodes:
        return False
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} unreadable)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path.name} is empty)"


_live: set[_Server] = set()


@atexit.register
def _close_leftovers() -> None:
    """Safety net: stop whatever a crashed fixture or a forgotten close() left running."""
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.close()


class _Server:
    """A child process with a private temp folder, free ports and a bounded start."""

    name = "server"
    host = "127.0.0.1"

    def __init__(self, binary: Path, package: str) -> None:
        if not binary.exists():
            raise ServerNotInstalledError(binary, package)
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix=f"hazmon-{self.name}-"))
        self._ports_fixed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._choose_ports()

    # --- per-server parts -------------------------------------------------------------

    def _choose_ports(self) -> None:
        raise NotImplementedError

    def _write_config(self) -> list[str]:
        """Write the config file and return the command line."""
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _log_paths(self) -> list[Path]:
        return [self.dir / "stderr.log"]

    def _log_tail(self) -> str:
        return "\n".join(f"--- {path.name} ---\n{_tail(path)}" for path in self._log_paths())

    # --- lifecycle --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def start(self) -> None:
        """Start and wait until it serves. A first start that loses its free port to
        another process picks new ports; a restart retries the same ones until the
        deadline (a port can take a moment to be released)."""
        if self.running:
            return
        _live.add(self)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            sizes = {path: _size(path) for path in self._log_paths()}
            self._spawn()
            reason = self._wait_ready(deadline)
            if reason is None:
                self._ports_fixed = True
                return
            new_output = "".join(_read_from(path, size) for path, size in sizes.items())
            port_taken = "address already in use" in new_output.lower()
            if self.running or not port_taken or time.monotonic() >= deadline:
                tail = self._log_tail()
                self._terminate(signal.SIGKILL)
                raise ServerStartError(self.name, reason, tail)
            self._reap()
            if not self._ports_fixed:
                self._choose_ports()
            time.sleep(0.2)

    def _spawn(self) -> None:
        argv = self._write_config()
        with open(self.dir / "stderr.log", "ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )

    def _wait_ready(self, deadline: float) -> str | None:
        """None once ready, else why not (the process exited, or the deadline passed)."""
        assert self._proc is not None
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                return f"process exited with code {code}"
            if self._ready():
                return None
            time.sleep(0.05)
        return f"not ready after {START_TIMEOUT_S:.0f} s"

    def stop(self) -> None:
        """Graceful stop (SIGTERM; SIGKILL if it hangs). Ports and data are kept."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Crash it (SIGKILL): nothing is flushed. Ports and data folder are kept."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (if running) and start again on the same ports with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop for good and remove the temp folder."""
        self._terminate(signal.SIGTERM)
        _live.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _terminate(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self._main_port()} {state}>"

    def _main_port(self) -> int:
        raise NotImplementedError


class Mosquitto(_Server):
    """Debian's Mosquitto 2 on 127.0.0.1:<free port>, anonymous, with persistence.

    ``autosave_interval_s`` makes the broker save its in-memory state periodically
    (Mosquitto's default is only on shutdown), for tests that ``kill()`` it and
    expect persisted state to survive. ``max_queued_messages`` small makes it drop what
    a slow client cannot take; ``sys_interval_s`` is how often it publishes $SYS.
    """

    name = "mosquitto"

    def __init__(self, *, autosave_interval_s: int | None = None,
                 max_queued_messages: int = 100_000, sys_interval_s: int | None = None) -> None:
        self.autosave_interval_s = autosave_interval_s
        self.max_queued_messages = max_queued_messages
        self.sys_interval_s = sys_interval_s
        self.port = 0
        super().__init__(MOSQUITTO_BIN, "mosquitto")

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "mosquitto.log"

    def _main_port(self) -> int:
        return self.port

    def _choose_ports(self) -> None:
        self.port = free_port()

    def _write_config(self) -> list[str]:
        # Started as root, Mosquitto drops privileges to `user` (default: mosquitto),
        # which could not write this folder. Naming the current user keeps it as is;
        # when not root, Mosquitto ignores the option.
        user = pwd.getpwuid(os.geteuid()).pw_name
        lines = [
            f"user {user}",
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"max_queued_messages {self.max_queued_messages}",
            "set_tcp_nodelay true",
            "persistence true",
            f"persistence_location {self.dir}/",
            f"log_dest file {self.log_path}",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self.autosave_interval_s is not None:
            lines.append(f"autosave_interval {self.autosave_interval_s}")
        if self.sys_interval_s is not None:
            lines.append(f"sys_interval {self.sys_interval_s}")
        config = self.dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return [str(self.binary), "-c", str(config)]

    def _ready(self) -> bool:
        assert self._proc is not None
        return listens(self._proc.pid, self.port) and port_accepts(self.host, self.port)

    def _log_paths(self) -> list[Path]:
        return [self.log_path, self.dir / "stderr.log"]

    def __enter__(self) -> Mosquitto:
        self.start()
        return self


class InfluxDB(_Server):
    """Debian's InfluxDB 1.6 on 127.0.0.1:<free port>, no auth, no phoning home."""

    name = "influxdb"

    def __init__(self) -> None:
        self.port = 0
        self.rpc_port = 0
        super().__init__(INFLUXD_BIN, "influxdb")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _main_port(self) -> int:
        return self.port

    def _choose_ports(self) -> None:
        self.port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()

    def _write_config(self) -> list[str]:
        config = self.dir / "influxdb.conf"
        config.write_text(
            f"""\
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{self.dir}/meta"

[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = false
  log-enabled = false

[logging]
  level = "warn"
"""
        )
        return [str(self.binary), "-config", str(config)]

    def _ready(self) -> bool:
        assert self._proc is not None
        if not listens(self._proc.pid, self.port):
            return False
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def __enter__(self) -> InfluxDB:
        self.start()
        return self

    # --- HTTP API helpers -------------------------------------------------------------

    def create_database(self, name: str) -> None:
        self._post_query(f"CREATE DATABASE {quote_ident(name)}")

    def drop_database(self, name: str) -> None:
        self._post_query(f"DROP DATABASE {quote_ident(name)}")

    def write(self, db: str, lines: str | list[str], *, precision: str = "ms") -> None:
        """Write line protocol (``POST /write``); raise on anything but 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = httpx.post(
            f"{self.url}/write",
            params={"db": db, "precision": precision},
            content=body.encode(),
            timeout=10.0,
        )
        if response.status_code != 204:
            raise InfluxQueryError(f"write to {db}", f"{response.status_code} {response.text}")

    def query(self, db: str, q: str, *, epoch: str | None = None) -> dict[str, Any]:
        """Run a read query (``GET /query``), raising InfluxQueryError on any error.
        Times come back as RFC 3339 strings, or as integers with ``epoch="ms"`` etc."""
        params = {"db": db, "q": q} | ({"epoch": epoch} if epoch else {})
        response = httpx.get(f"{self.url}/query", params=params, timeout=10.0)
        return _checked(q, response)

    def count(self, db: str, measurement: str, field: str) -> int:
        """How many points of `measurement` carry `field` (0 when there are none)."""
        q = f"SELECT count({quote_ident(field)}) FROM {quote_ident(measurement)}"
        series = self.query(db, q)["results"][0].get("series", [])
        return sum(int(row[1]) for s in series for row in s["values"])

    def _post_query(self, q: str) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/query", data={"q": q}, timeout=10.0)
        return _checked(q, response)


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes, with `\\` and `"` escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _checked(q: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise InfluxQueryError(q, f"{response.status_code} {response.text}") from None
    if response.status_code != 200 or "error" in body:
        raise InfluxQueryError(q, str(body.get("error", response.status_code)))
    for result in body.get("results", []):
        if "error" in result:
            raise InfluxQueryError(q, str(result["error"]))
    return body


__all__ = [
    "INFLUXD_BIN",
    "MOSQUITTO_BIN",
    "InfluxDB",
    "InfluxQueryError",
    "Mosquitto",
    "ServerError",
    "ServerNotInstalledError",
    "ServerStartError",
    "free_port",
    "listens",
    "port_accepts",
    "quote_ident",
]
