"""InfluxStore: InfluxDB through the v1 HTTP API subset that 1.x, 2.x and 3.x serve.

Writes: `POST /write?db=DB&precision=ms`, line protocol, one request per batch, gzip'd
(level 1) unless InfluxDB is on this host (`HAZMON_INFLUX_GZIP`: auto, on, off); the
spool keeps batches gzip'd either way. Credentials come from Settings:
`HAZMON_INFLUX_TOKEN` is sent as `Authorization: Token ...`;
`HAZMON_INFLUX_USERNAME`/`_PASSWORD` (or `_PASSWORD_FILE`) as HTTP Basic credentials,
which the v1 API takes like `u`/`p` but keeps out of URLs and logs.

Outcomes of a write:
- 204: durable;
- no connection, no answer within `write_timeout_s` (5 s: a slow InfluxDB is treated
  as an unavailable one, so ingest spools rather than letting the broker's queue
  fill), 5xx, 429: `StoreUnavailable` (keep the data, retry later; a missing
  database is created once, then retried); 401/403: `StoreUnauthorized`, a kind of
  StoreUnavailable (kept and retried too), and `ping()` is False until a write works;
- 400/413/422 (a bad line, a type conflict, a body too large): the batch is split in
  halves until the lines InfluxDB refuses are alone; those are refused
  (`StoreRejected`), every other line is written. InfluxDB 1.x's "partial write ...
  dropped=N" where N is the whole batch refuses it without splitting.

Reads use InfluxQL on `GET /query` (stores/influxql.py).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from hazmon.contract.lineproto import ReadingEncoder, line
from hazmon.contract.settings import InfluxAddress, Settings
from hazmon.contract.wire import Reading
from hazmon.stores.base import (
    Latest,
    Point,
    Refused,
    Row,
    Store,
    StoreRejected,
    StoreUnauthorized,
    StoreUnavailable,
)
from hazmon.stores.influxql import InfluxQL

log = logging.getLogger(__name__)

GZIP_LEVEL = 1
_GZIP_WBITS = 31  # zlib's gzip container
_TRANSPORT_RETRIES = 2
_DROPPED = re.compile(r"dropped=(\d+)")
_REFUSABLE = frozenset({400, 413, 422})
_PLAIN_HEADERS = {"Content-Type": "text/plain; charset=utf-8"}
_GZIP_HEADERS = {**_PLAIN_HEADERS, "Content-Encoding": "gzip"}


_GZIP_MAGIC = b"\x1f\x8b"  # a gzip body; a line-protocol body starts with a measurement


def gzip_lines(lines: Sequence[str]) -> bytes:
    return zlib.compress("\n".join(lines).encode(), GZIP_LEVEL, wbits=_GZIP_WBITS)


def plain_lines(lines: Sequence[str]) -> bytes:
    return "\n".join(lines).encode()


def gunzip_lines(blob: bytes) -> list[str]:
    """The lines of a body, gzip'd or not."""
    if blob.startswith(_GZIP_MAGIC):
        blob = zlib.decompress(blob, wbits=_GZIP_WBITS)
    return blob.decode().split("\n")


def loopback(url: str) -> bool:
    """Whether a URL's host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = (httpx.URL(url).host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_client(
    address: InfluxAddress,
    settings: Settings | None,
    *,
    timeout_s: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    headers = {"User-Agent": "hazmon"}
    auth: httpx.Auth | None = None
    if settings is not None and settings.influx_token is not None:
        headers["Authorization"] = f"Token {settings.influx_token.get_secret_value()}"
    elif settings is not None and settings.influx_username is not None:
        auth = httpx.BasicAuth(settings.influx_username, settings.influx_secret() or "")
    return httpx.Client(
        base_url=address.base_url,
        headers=headers,
        auth=auth,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
        transport=transport,
    )


class InfluxStore(Store):
    """The v1 HTTP API store. Thread-safe (httpx.Client is)."""

    pack_format = "influx-line-gzip-v1"

    def __init__(
        self,
        address: InfluxAddress,
        *,
        settings: Settings | None = None,
        timeout_s: float = 10.0,
        write_timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.address = address
        self.write_timeout_s = write_timeout_s
        self._http = http_client(address, settings, timeout_s=timeout_s, transport=transport)
        self._encoder = ReadingEncoder()
        self._db_created = False
        self._ql = InfluxQL(self._http, address.database)
        self.refused_credentials = False  # the last write was refused with 401/403
        # gzip bodies: `HAZMON_INFLUX_GZIP`; auto: unless InfluxDB is on this host, where
        # compressing costs ingest about a tenth of its CPU and saves nothing
        choice = settings.influx_gzip if settings is not None else "auto"
        self.gzip = choice == "on" or (choice == "auto" and not loopback(address.base_url))
        self._lines = gzip_lines if self.gzip else plain_lines

    # -- writes -------------------------------------------------------------------------

    takes_lines = True

    def pack(self, readings: Sequence[Reading], points: Sequence[Point], *,
             lines: Sequence[str] = ()) -> bytes:
        body = [*lines, *self._encoder.encode_all(readings)] if lines else (
            self._encoder.encode_all(readings))
        good, refused = _point_lines(points)
        for item in refused:
            log.warning("point left out of the batch: %s (%s)", item.item, item.reason)
        return self._lines(body + good)

    def for_spool(self, blob: bytes) -> bytes:
        """A blob to keep on disk: gzip'd whatever was sent (`write_packed` takes both)."""
        return blob if blob.startswith(_GZIP_MAGIC) else zlib.compress(
            blob, GZIP_LEVEL, wbits=_GZIP_WBITS)

    def write_readings(self, readings: Sequence[Reading]) -> None:
        if readings:
            self.write_packed(self.pack(readings, ()))

    def write_points(self, points: Sequence[Point]) -> None:
        good, refused = _point_lines(points)
        try:
            if good:
                self.write_packed(self._lines(good))
        except StoreRejected as exc:
            refused.extend(exc.refused)
        if refused:
            raise StoreRejected(refused)

    def write_packed(self, blob: bytes) -> None:
        response = self._send(blob)
        if response.status_code == 204:
            return
        if response.status_code in _REFUSABLE:
            refused = self._split(gunzip_lines(blob), response)
            if refused:
                raise StoreRejected(refused)
            return
        raise StoreUnavailable(f"InfluxDB /write: {response.status_code} {_error(response)}")

    def _send(self, blob: bytes) -> httpx.Response:
        """POST one body (gzip'd or not); connection problems and 5xx become StoreUnavailable."""
        response = self._post(blob)
        missing_db = response.status_code == 404 and "database not found" in response.text
        if missing_db and not self._db_created:
            self._db_created = True
            self._ql.create_database()
            response = self._post(blob)
        self.refused_credentials = response.status_code in (401, 403)
        if self.refused_credentials:
            raise StoreUnauthorized(
                f"InfluxDB /write: {response.status_code} {_error(response)} (check "
                "HAZMON_INFLUX_USERNAME and HAZMON_INFLUX_PASSWORD[_FILE] or _TOKEN)"
            )
        if response.status_code >= 500 or response.status_code in (404, 429):
            raise StoreUnavailable(f"InfluxDB /write: {response.status_code} {_error(response)}")
        return response

    def _post(self, blob: bytes) -> httpx.Response:
        params = {"db": self.address.database, "precision": "ms"}
        headers = _GZIP_HEADERS if blob.startswith(_GZIP_MAGIC) else _PLAIN_HEADERS
        for attempt in range(_TRANSPORT_RETRIES + 1):
            try:
                return self._http.post(
                    "/write",
                    params=params,
                    content=blob,
                    headers=headers,
                    timeout=httpx.Timeout(
                        self.write_timeout_s, connect=min(3.0, self.write_timeout_s)
                    ),
                )
            except httpx.TimeoutException as exc:
                raise StoreUnavailable(f"InfluxDB /write timed out ({exc!r})") from exc
            except httpx.TransportError as exc:
                if attempt == _TRANSPORT_RETRIES:
                    raise StoreUnavailable(f"InfluxDB unreachable: {exc!r}") from exc
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def _split(self, lines: list[str], response: httpx.Response) -> list[Refused]:
        """Write what InfluxDB takes of `lines` (which it refused as a whole)."""
        reason = f"{response.status_code} {_error(response)}"
        dropped = _DROPPED.search(reason)
        if len(lines) == 1 or (dropped is not None and int(dropped.group(1)) >= len(lines)):
            return [Refused(text, reason) for text in lines]
        half = len(lines) // 2
        refused: list[Refused] = []
        for part in (lines[:half], lines[half:]):
            answer = self._send(self._lines(part))
            if answer.status_code in _REFUSABLE:
                refused.extend(self._split(part, answer))
            elif answer.status_code != 204:
                raise StoreUnavailable(f"InfluxDB /write: {answer.status_code} {_error(answer)}")
        return refused

    # -- queries ------------------------------------------------------------------------

    def latest(self, site: str) -> list[Latest]:
        return self._ql.latest(site)

    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int = 10_000
    ) -> list[Latest]:
        return self._ql.readings(site, sensor, from_ms=from_ms, to_ms=to_ms, limit=limit)

    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        return self._ql.points(measurement, from_ms=from_ms, to_ms=to_ms, tags=tags, limit=limit)

    def count_readings(self) -> int:
        return self._ql.count_readings()

    def ping(self) -> bool:
        """InfluxDB answers, and did not refuse hazmon's credentials on the last write."""
        if self.refused_credentials:
            return False
        try:
            return self._http.get("/ping", timeout=2.0).status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()


def _point_lines(points: Sequence[Point]) -> tuple[list[str], list[Refused]]:
    good: list[str] = []
    refused: list[Refused] = []
    for p in points:
        try:
            good.append(line(p.measurement, p.tags, p.fields, p.ts_ms))
        except ValueError as exc:
            refused.append(Refused(f"{p.measurement} {dict(p.tags)} {p.ts_ms}", str(exc)))
    return good, refused


def _error(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:500]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:500]
    return response.text.strip()[:500]
