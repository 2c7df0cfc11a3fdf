"""Attacks on the HTTP side of a real `hazmon up` (its own process, a real Mosquitto):
a viewer opening live streams until the process runs out of file descriptors, a
flood of idle connections, guessing tokens behind rotating X-Forwarded-For headers,
and the operator whose valid token must still work; token reload on SIGHUP; HTTPS.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hazmon.testing.servers import Mosquitto, free_port
from tests.api.running import HAZMON, Hazmon, publish_reading

pytestmark = pytest.mark.integration

TOKENS = {"viewer": "live-viewer", "operator": "live-operator", "admin": "live-admin"}
NOFILE = 256  # the process's open-files limit (hard too), as a tight LimitNOFILE= would
ACCEPT_ERROR = "socket.accept() out of system resource"


SCOPED_OPERATOR = "live-operator-of-a"  # scoped to site A


def token_line(name: str, role: str, token: str, sites: str = "") -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    scope = f", sites: [{sites}]" if sites else ""
    return f'    - {{name: {name}, role: {role}, sha256: "{digest}"{scope}}}\n'


def registry_yaml(site: str, tokens: dict[str, str] = TOKENS) -> str:
    lines = "".join(token_line(f"{role}.one", role, t) for role, t in tokens.items())
    lines += token_line("operator.of.a", "operator", SCOPED_OPERATOR, f"{site}-a")
    return f"""
sites:
  - id: {site}-a
    name: 甲厂
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    gateways:
      - id: gw-1
        period_s: 60
        sensors:
          - {{id: GT-1, kind: combustible_gas, unit: "%LEL", range: [0, 100], area: 罐区}}
  - id: {site}-b
    name: 乙厂
    industry: hazardous_chemicals
    location: {{lat: 29.2, lon: 119.8}}
    gateways:
      - id: gw-1
        period_s: 60
        sensors:
          - {{id: GT-1, kind: combustible_gas, unit: "%LEL", range: [0, 100], area: 罐区}}
auth:
  tokens:
{lines}"""


def start(
    tmp_path: Path, broker: Mosquitto, site: str, *args: str, env: dict[str, str] | None = None,
    nofile: int | None = None, scheme: str = "http", verify: Any = True, name: str = "hazmon",
) -> Hazmon:
    config = tmp_path / f"{name}.yaml"
    if not config.exists():
        config.write_text(registry_yaml(site), encoding="utf-8")
    running = Hazmon("up", "--config", str(config), "--broker", broker.url,
                     "--data", str(tmp_path / f"{name}-data"), *args,
                     http=f"127.0.0.1:{free_port()}", log=tmp_path / f"{name}.log",
                     env=env, nofile=nofile, scheme=scheme, verify=verify)
    try:
        running.wait_serving()
    except BaseException:
        running.stop()
        raise
    return running


@pytest.fixture
def site(unique_id: str) -> str:
    return f"{unique_id}-live"


def port_of(running: Hazmon) -> int:
    return int(running.base_url.rsplit(":", 1)[1])


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


# -- live streams -----------------------------------------------------------------------


class Stream:
    """One raw HTTP/1.1 request for /api/v1/stream: its status and, if refused, the
    error code (status 0, "closed": the connection was closed unanswered); an accepted
    one stays open until `close()`."""

    def __init__(self) -> None:
        self.status = 0
        self.error = ""
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None

    async def open(self, port: int, token: str, source: str = "127.0.0.1") -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(f"GET /api/v1/stream HTTP/1.1\r\nHost: hazmon\r\n"
                     f"Authorization: Bearer {token}\r\n\r\n".encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError):
            self.error = "closed"  # over the address's connection cap: closed at once
            writer.close()
            return self
        self.status = int(head.split()[1])
        if self.status == 200:
            await reader.readuntil(b"event: ready")
            self.reader, self.writer = reader, writer
            return self
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        self.error = orjson.loads(await reader.readexactly(length))["error"]
        writer.close()
        return self

    async def ended(self) -> bool:
        """Whether the server ended this stream (its final chunk, or EOF)."""
        assert self.reader is not None
        rest = await self.reader.read()
        return rest.endswith(b"0\r\n\r\n") or rest == b""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def open_streams(port: int, token: str, count: int, source: str = "127.0.0.1"
                       ) -> list[Stream]:
    return list(await asyncio.gather(
        *(Stream().open(port, token, source) for _ in range(count))))


def tally(streams: list[Stream]) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for s in streams:
        key = s.status if s.status == 200 else (s.status, s.error)
        counts[key] = counts.get(key, 0) + 1
    return counts


def still_serving(running: Hazmon) -> None:
    """Alive, healthy, and no alarm but a system alarm that has ended: a background
    write that met EMFILE while the descriptors were exhausted is raised as a system
    alarm and cleared once it works again (docs/alarms.md), which is what it should do."""
    assert running.proc.poll() is None, running.output()[-3000:]
    assert httpx.get(f"{running.base_url}/health", timeout=5).json()["status"] == "ok"
    alarms = running.get("/api/v1/alarms", TOKENS["operator"])
    assert [a for a in alarms if a["site"] != "_system" or a["state"] != "normal"] == []
    assert all("EMFILE" in (a.get("note") or "") or a["event"] == "cleared" for a in alarms)


async def test_a_viewer_opening_hundreds_of_streams_gets_its_cap_and_the_service_goes_on(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """The attack: 400 streams at once with one viewer token against a process that may
    open 256 files. Without the caps it would run out of descriptors; with the default
    ones the viewer holds 10 streams, every other request is refused at once with 429,
    or, beyond the address's 128 connections, its connection is closed."""
    running = start(tmp_path, fresh_mosquitto, site, nofile=NOFILE)
    port = port_of(running)
    try:
        async with asyncio.timeout(90):
            streams = await open_streams(port, TOKENS["viewer"], 400)
            counts = tally(streams)
            assert counts.pop(200) == 10, counts
            assert set(counts) <= {(429, "too_many_streams"), (0, "closed")}, counts
            assert counts[(429, "too_many_streams")] >= 118, counts
            await asyncio.to_thread(still_serving, running)
            more = await open_streams(port, TOKENS["admin"], 3)  # another token: its own share
            assert tally(more) == {200: 3}
            for s in streams + more:
                s.close()
            await asyncio.sleep(0.5)
            again = await open_streams(port, TOKENS["viewer"], 10)  # places given back
            assert tally(again) == {200: 10}
            for s in again:
                s.close()
    finally:
        code = running.stop()
    assert code == 0, running.output()[-3000:]
    out = running.output()  # 400 connections at once may run it out of descriptors briefly
    assert out.count("Traceback") == out.count(ACCEPT_ERROR) <= 1, out[-3000:]


async def test_address_and_total_caps(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    env = {"HAZMON_STREAMS_PER_TOKEN": "4", "HAZMON_STREAMS_PER_ADDRESS": "5",
           "HAZMON_STREAMS_TOTAL": "8"}
    running = start(tmp_path, fresh_mosquitto, site, env=env)
    port = port_of(running)
    try:
        async with asyncio.timeout(60):
            viewer = await open_streams(port, TOKENS["viewer"], 5)
            assert tally(viewer) == {200: 4, (429, "too_many_streams"): 1}  # per token
            operator = await open_streams(port, TOKENS["operator"], 2)
            assert tally(operator) == {200: 1, (429, "too_many_streams"): 1}  # per address
            other = await open_streams(port, TOKENS["admin"], 3, source="127.0.0.2")
            assert tally(other) == {200: 3}  # another address: its own share
            full = await open_streams(port, TOKENS["operator"], 1, source="127.0.0.3")
            assert tally(full) == {(503, "streams_full"): 1}  # 8 open in all
            await asyncio.to_thread(still_serving, running)
            for s in viewer + operator + other:
                s.close()
    finally:
        assert running.stop() == 0, running.output()[-3000:]


KEPT = 64


async def test_idle_connections_from_one_address_are_capped_and_the_service_answers(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """300 idle TCP connections from one address against a 256-file process, opened
    while the process is stopped (as a busy machine leaves it no time to accept): it
    never runs out of descriptors, holds no more than its
    HAZMON_CONNECTIONS_PER_ADDRESS (64 here), closes the others it accepted, and
    answers everyone else meanwhile. With uvicorn's listen backlog of 2048 it took all
    300 waiting connections in one turn of its loop and ran out of descriptors before
    it could close any; now the kernel queues 100 and the rest wait, or are dropped."""
    running = start(tmp_path, fresh_mosquitto, site, nofile=NOFILE,
                    env={"HAZMON_CONNECTIONS_PER_ADDRESS": str(KEPT)})
    port = port_of(running)
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with asyncio.timeout(60):
            running.proc.send_signal(signal.SIGSTOP)
            try:
                opening = [asyncio.create_task(asyncio.open_connection(
                    "127.0.0.1", port, local_addr=("127.0.0.5", 0))) for _ in range(300)]
                await asyncio.sleep(1)
            finally:
                running.proc.send_signal(signal.SIGCONT)
            held.extend(await asyncio.gather(*opening))
            await asyncio.sleep(3)
            closed = [r for r, _ in held if r.at_eof() or await _closed(r)]
            assert len(closed) >= 100 - KEPT  # at least the queued ones over the cap
            assert _held_from(running, "127.0.0.5") == KEPT
            await asyncio.to_thread(still_serving, running)  # from 127.0.0.1
            assert ACCEPT_ERROR not in running.output()
    finally:
        for _, writer in held:
            writer.close()
        code = running.stop()
    assert code == 0, running.output()[-3000:]


def _held_from(running: Hazmon, address: str) -> int:
    """How many open connections the process holds from `address`."""
    import psutil

    return sum(1 for c in psutil.Process(running.proc.pid).net_connections("tcp")
               if c.raddr and c.raddr.ip == address)


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 0.05) == b""
    except TimeoutError:
        return False


async def test_idle_connections_exhausting_descriptors_log_one_line_and_the_service_survives(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """300 idle TCP connections from three addresses (each under its cap) against a
    256-file process: accept() fails with EMFILE and asyncio retries every second;
    the log gets one line a minute for it (it grew by hundreds of MB a minute), and
    once they go the service answers."""
    running = start(tmp_path, fresh_mosquitto, site, nofile=NOFILE)
    port = port_of(running)
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with asyncio.timeout(60):
            for i in range(300):
                source = f"127.0.0.{2 + i % 3}"
                held.append(await asyncio.open_connection("127.0.0.1", port,
                                                          local_addr=(source, 0)))
            await asyncio.sleep(5)  # about five retries of accept()
            assert running.output().count(ACCEPT_ERROR) == 1, running.output()[-3000:]
            for _, writer in held:
                writer.close()
            held.clear()
            deadline = time.monotonic() + 20
            while True:
                try:
                    await asyncio.to_thread(still_serving, running)
                    break
                except (httpx.HTTPError, AssertionError):
                    if time.monotonic() > deadline or running.proc.poll() is not None:
                        raise
                    await asyncio.sleep(0.5)
    finally:
        for _, writer in held:
            writer.close()
        code = running.stop()
    assert code == 0, running.output()[-3000:]
    assert running.output().count(ACCEPT_ERROR) == 1


# -- guessing tokens ----------------------------------------------------------------------

SLOW = {"HAZMON_AUTH_FAILURE_INTERVAL_S": "3", "HAZMON_AUTH_MAX_DELAY_S": "6"}
HELD_S = 2.5  # at least: a held answer waits its turn, 3 s after the last
AT_ONCE_S = 1.5  # at most: an answer not held (with room for a loaded machine)


def timed_get(client: httpx.Client, path: str, headers: dict[str, str]) -> tuple[int, float]:
    began = time.monotonic()
    status = client.get(path, headers=headers).status_code
    return status, time.monotonic() - began


def test_rotating_forwarded_for_does_not_escape_the_guess_limit_and_a_valid_token_works(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """From 127.0.0.1 (which uvicorn trusts by default), 10 guesses each naming another
    X-Forwarded-For: all one address to hazmon, so the 11th is held; an operator's
    valid token from there is answered at once, then and after more guesses."""
    running = start(tmp_path, fresh_mosquitto, site, env=SLOW)
    try:
        with httpx.Client(base_url=running.base_url, timeout=15) as c:
            fast = [timed_get(c, "/api/v1/sites",
                              bearer(f"guess-{i}", **{"X-Forwarded-For": f"10.9.0.{i}"}))
                    for i in range(10)]  # fmt: skip
            assert all(status == 401 for status, _ in fast)
            status, held_s = timed_get(c, "/api/v1/sites",
                                       bearer("guess-x", **{"X-Forwarded-For": "10.9.0.99"}))
            assert status == 401 and held_s >= HELD_S, held_s
            status, took_s = timed_get(c, "/api/v1/me", bearer(TOKENS["operator"]))
            assert status == 200 and took_s < AT_ONCE_S, took_s
            with ThreadPoolExecutor(4) as pool:  # a parallel guesser: held, then refused
                parallel = list(pool.map(
                    lambda i: c.get("/api/v1/sites", headers=bearer(f"p-{i}")), range(4)))
            refused = [r for r in parallel if r.status_code == 429]
            assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
            assert {r.status_code for r in parallel} <= {401, 429}
            status, took_s = timed_get(c, "/api/v1/me", bearer(TOKENS["operator"]))
            assert status == 200 and took_s < AT_ONCE_S, took_s
            alarms = c.get("/api/v1/alarms", headers=bearer(TOKENS["operator"]))
            assert alarms.status_code == 200
    finally:
        assert running.stop() == 0, running.output()[-3000:]


def test_a_named_proxys_forwarded_for_is_the_client(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """With --forwarded-allow-ips 127.0.0.1, clients behind that proxy are told apart
    by X-Forwarded-For: one client's guesses do not slow another's."""
    running = start(tmp_path, fresh_mosquitto, site, "--forwarded-allow-ips", "127.0.0.1",
                    env=SLOW)
    try:
        with httpx.Client(base_url=running.base_url, timeout=15) as c:
            guesser = bearer("guess", **{"X-Forwarded-For": "10.9.1.1"})
            for _ in range(10):
                assert timed_get(c, "/api/v1/sites", guesser)[0] == 401
            status, held_s = timed_get(c, "/api/v1/sites", guesser)
            assert status == 401 and held_s >= HELD_S, held_s
            other = bearer("typo", **{"X-Forwarded-For": "10.9.1.2"})
            status, took_s = timed_get(c, "/api/v1/sites", other)
            assert status == 401 and took_s < AT_ONCE_S, took_s
    finally:
        assert running.stop() == 0, running.output()[-3000:]


# -- SIGHUP ---------------------------------------------------------------------------------


def new_token(name: str, role: str, *sites: str) -> tuple[str, str]:
    """`hazmon token new`: the token and the registry line it prints."""
    args = [str(HAZMON), "token", "new", "--name", name, "--role", role]
    for s in sites:
        args += ["--sites", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    return lines[1].strip(), lines[3].strip()


def wait_for(check: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)


def status_of(running: Hazmon, token: str, path: str = "/api/v1/me") -> int:
    return httpx.get(f"{running.base_url}{path}", headers=bearer(token), timeout=10,
                     verify=running.verify).status_code


async def test_sighup_reloads_tokens_new_ones_work_removed_ones_get_401(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    running = start(tmp_path, fresh_mosquitto, site)
    config = tmp_path / "hazmon.yaml"
    try:
        assert status_of(running, TOKENS["operator"]) == 200
        stream = await Stream().open(port_of(running), TOKENS["operator"])
        token, line = new_token("new.officer", "operator", f"{site}-a")
        assert len(token) >= 43  # 256 random bits, URL-safe base64
        assert status_of(running, token) == 401
        text = config.read_text(encoding="utf-8")
        operator_line = token_line("operator.one", "operator", TOKENS["operator"])
        assert operator_line in text
        config.write_text(text.replace(operator_line, f"    {line}\n"), encoding="utf-8")
        running.proc.send_signal(signal.SIGHUP)
        await asyncio.to_thread(wait_for, lambda: status_of(running, token) == 200)
        assert status_of(running, TOKENS["operator"]) == 401
        assert status_of(running, TOKENS["viewer"]) == 200
        me = await asyncio.to_thread(running.get, "/api/v1/me", token)
        assert (me["name"], me["role"], me["sites"]) == ("new.officer", "operator",
                                                         [f"{site}-a"])
        sites = await asyncio.to_thread(running.get, "/api/v1/sites", token)
        assert [s["id"] for s in sites] == [f"{site}-a"]
        async with asyncio.timeout(10):
            assert await stream.ended()  # the removed token's stream ends at once
        stream.close()
        assert "reloaded" in running.output()

        config.write_text("sites: [oops\n", encoding="utf-8")  # a broken edit
        running.proc.send_signal(signal.SIGHUP)
        await asyncio.to_thread(
            wait_for, lambda: "the registry in force stays" in running.output())
        assert status_of(running, token) == 200
        assert running.proc.poll() is None
    finally:
        code = running.stop()
    assert code == 0, running.output()[-3000:]


def test_sighup_applies_new_sensors_and_thresholds_to_the_running_services(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    """A sensor added and a level 1 lowered in the registry file: after SIGHUP the
    running alarm service evaluates both, ingest stores the new sensor's readings, the
    API lists it; nothing restarted."""
    running = start(tmp_path, fresh_mosquitto, site)
    config = tmp_path / "hazmon.yaml"
    admin = TOKENS["admin"]
    try:
        publish_reading(fresh_mosquitto, f"{site}-a", 20.0, sensor="GT-1", seq=0)
        wait_for(lambda: not alarms_of(running, admin))  # 20 %LEL: under level 1 (25)
        text = config.read_text(encoding="utf-8")
        old = '{id: GT-1, kind: combustible_gas, unit: "%LEL", range: [0, 100], area: 罐区}'
        assert old in text
        config.write_text(text.replace(old, old[:-1] + ", thresholds: {high: 15}}\n"
                          "          - {id: GT-9, kind: combustible_gas, range: [0, 100]}"),
                          encoding="utf-8")
        running.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "sites, sensors and rules too" in running.output())
        publish_reading(fresh_mosquitto, f"{site}-a", 20.5, sensor="GT-1", seq=1)
        publish_reading(fresh_mosquitto, f"{site}-a", 60.0, sensor="GT-9", seq=2)
        wait_for(lambda: {a["key"] for a in alarms_of(running, admin)} >= {
            f"{site}-a/GT-1/high", f"{site}-a/GT-9/high_high"})
        sensors = running.get(f"/api/v1/sites/{site}-a/sensors", admin)
        assert {s["id"]: s["value"] for s in sensors}["GT-9"] == 60.0
    finally:
        code = running.stop()
    assert code == 0, running.output()[-3000:]


def alarms_of(running: Hazmon, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = running.get("/api/v1/alarms", token, active="true")
    return found


def test_token_new_prints_a_strong_token_once_and_a_line_the_registry_takes(
    tmp_path: Path,
) -> None:
    from hazmon.contract.config import load_registry

    token, line = new_token("li.na", "engineer", "s1", "s2")
    again, _ = new_token("li.na", "engineer")
    assert token != again and len(token) >= 43 and len(set(token)) > 10
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml("s").replace("s-a", "s1").replace("s-b", "s2")
                      + f"    {line}\n", encoding="utf-8")
    [entry] = [t for t in load_registry(config).auth.tokens if t.name == "li.na"]
    assert (entry.role, entry.sites) == ("engineer", ["s1", "s2"])
    assert entry.sha256 == hashlib.sha256(token.encode()).hexdigest()
    bad = subprocess.run([str(HAZMON), "token", "new", "--name", "x", "--role", "boss"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--role" in bad.stderr and not bad.stdout


# -- site scope ----------------------------------------------------------------------------


def test_an_operator_of_site_a_cannot_see_or_ack_site_bs_critical_alarm(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str
) -> None:
    running = start(tmp_path, fresh_mosquitto, site)
    try:
        publish_reading(fresh_mosquitto, f"{site}-b", 80.0)  # high_high: critical
        admin = TOKENS["admin"]
        wait_for(lambda: any(a["priority"] == "critical"
                             for a in running.get("/api/v1/alarms", admin)))
        [alarm] = [a for a in running.get("/api/v1/alarms", admin)
                   if a["priority"] == "critical"]
        assert alarm["site"] == f"{site}-b" and alarm["state"] == "unack"
        encoded = alarm["alarm_id"].replace("/", "%2F").replace("#", "%23")
        with httpx.Client(base_url=running.base_url, timeout=10) as c:
            ack = c.post(f"/api/v1/alarms/{encoded}/ack", json={"note": "not my site"},
                         headers=bearer(SCOPED_OPERATOR))
            assert (ack.status_code, ack.json()["error"]) == (404, "unknown_alarm")
            made_up = alarm["alarm_id"].replace("#", "#9")
            ghost = c.post(f"/api/v1/alarms/{made_up.replace('/', '%2F').replace('#', '%23')}"
                           "/ack", json={"note": "x"}, headers=bearer(SCOPED_OPERATOR))
            assert ghost.json()["detail"] == ack.json()["detail"].replace(
                alarm["alarm_id"], made_up)  # not enumerable: the same as a made-up id
            assert running.get("/api/v1/alarms", SCOPED_OPERATOR) == []
            sites = running.get("/api/v1/sites", SCOPED_OPERATOR)
            assert [s["id"] for s in sites] == [f"{site}-a"]
            assert c.get(f"/api/v1/sites/{site}-b/sensors",
                         headers=bearer(SCOPED_OPERATOR)).status_code == 404
            assert c.get("/api/v1/journal", headers=bearer(SCOPED_OPERATOR)).status_code == 403
        [after] = [a for a in running.get("/api/v1/alarms", admin)
                   if a["alarm_id"] == alarm["alarm_id"]]
        assert after["state"] == "unack" and after["acked_by"] is None
        answer = httpx.post(f"{running.base_url}/api/v1/alarms/{encoded}/ack",
                            json={"note": "crew sent"}, headers=bearer(TOKENS["operator"]))
        assert answer.status_code == 200 and answer.json()["acked_by"] == "operator.one"
    finally:
        assert running.stop() == 0, running.output()[-3000:]


# -- HTTPS ------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    yield cert, key


def test_https_with_a_self_signed_certificate(
    tmp_path: Path, fresh_mosquitto: Mosquitto, site: str, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    trust = ssl.create_default_context(cafile=str(cert))
    running = start(tmp_path, fresh_mosquitto, site, "--tls-cert", str(cert),
                    "--tls-key", str(key), scheme="https", verify=trust)
    try:
        assert "hazmon console:  https://127.0.0.1:" in running.output()
        me = httpx.get(f"{running.base_url}/api/v1/me", headers=bearer(TOKENS["viewer"]),
                       verify=trust, timeout=10)
        assert me.status_code == 200 and me.json()["name"] == "viewer.one"
        assert me.headers["strict-transport-security"] == "max-age=31536000"
        plain = running.base_url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/health", timeout=5)
        with pytest.raises(httpx.ConnectError):  # not the certificate the client trusts
            httpx.get(f"{running.base_url}/health", timeout=5)
    finally:
        assert running.stop() == 0, running.output()[-3000:]


@pytest.mark.parametrize("which", ["cert only", "key not matching", "missing file"])
def test_a_bad_certificate_stops_before_anything_starts(
    tmp_path: Path, certificate: tuple[Path, Path], which: str
) -> None:
    cert, key = certificate
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True,
                   capture_output=True, timeout=60)
    args = {"cert only": ["--tls-cert", str(cert)],
            "key not matching": ["--tls-cert", str(cert), "--tls-key", str(other)],
            "missing file": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)]}
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml("tls"), encoding="utf-8")
    result = subprocess.run(
        [str(HAZMON), "up", "--config", str(config), "--data", str(tmp_path / "d"),
         "--http", f"127.0.0.1:{free_port()}", *args[which]],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "--tls-key" in result.stderr or "cannot serve HTTPS" in result.stderr
    assert not (tmp_path / "d").exists()
