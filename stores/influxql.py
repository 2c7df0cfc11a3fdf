"""The InfluxQL reads of InfluxStore (`GET /query?db=...&epoch=ms`).

Times are written as epoch literals with a unit (`time >= 1764385200000ms`); tag
values are single-quoted strings, identifiers double-quoted. InfluxDB returns a
float field that holds a whole number as a JSON integer, so fields are cast back
with the types `SHOW FIELD KEYS` gives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from hazmon.contract.lineproto import FieldValue
from hazmon.stores.base import Latest, Row, StoreError, StoreUnavailable

_SCHEMA_TTL_S = 60.0
_MAX_MS = 9_223_372_036_854  # InfluxDB keeps int64 nanoseconds: about ±292 years


def ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def time_range(from_ms: int, to_ms: int) -> str:
    """An InfluxQL time condition; bounds beyond what InfluxDB can hold are clamped."""
    low = max(-_MAX_MS, min(int(from_ms), _MAX_MS))
    high = max(-_MAX_MS, min(int(to_ms), _MAX_MS))
    return f"time >= {low}ms AND time <= {high}ms"


class InfluxQL:
    """Queries of one database; SHOW TAG/FIELD KEYS answers are cached for a minute
    (and asked again when a query returns a key the cache does not know)."""

    def __init__(self, http: httpx.Client, database: str) -> None:
        self._http = http
        self.database = database
        self._lock = threading.Lock()
        self._schemas: dict[str, tuple[float, frozenset[str], dict[str, str]]] = {}

    def query(self, q: str) -> list[dict[str, Any]]:
        """The series of every statement of `q`, concatenated; [] for a missing database."""
        try:
            response = self._http.get("/query", params={"db": self.database, "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB /query: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise StoreUnavailable(f"InfluxDB /query: {response.status_code} {response.text}")
        try:
            body = response.json()
        except ValueError as exc:
            raise StoreError(f"InfluxDB /query: {response.status_code} {response.text}") from exc
        if "error" in body:
            raise StoreError(f"InfluxDB /query: {body['error']} ({q})")
        series: list[dict[str, Any]] = []
        for result in body.get("results", []):
            error = result.get("error")
            if error and "database not found" in error:
                return []
            if error:
                raise StoreError(f"InfluxDB /query: {error} ({q})")
            series.extend(result.get("series", []))
        return series

    def create_database(self) -> None:
        try:
            self._http.post("/query", data={"q": f"CREATE DATABASE {ident(self.database)}"})
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"InfluxDB CREATE DATABASE: {exc!r}") from exc

    # -- readings -----------------------------------------------------------------------

    def latest(self, site: str) -> list[Latest]:
        q = (
            f'SELECT * FROM "reading" WHERE "site" = {literal(site)} '
            'GROUP BY "sensor" ORDER BY time DESC LIMIT 1'
        )
        out = []
        for series in self.query(q):
            sensor = series.get("tags", {}).get("sensor", "")
            for row in _rows(series):
                out.append(_latest(row, site=site, sensor=sensor))
        return sorted(out, key=lambda r: r.sensor)

    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int
    ) -> list[Latest]:
        q = (
            f'SELECT * FROM "reading" WHERE "site" = {literal(site)} AND '
            f'"sensor" = {literal(sensor)} AND {time_range(from_ms, to_ms)} '
            f"ORDER BY time ASC LIMIT {int(limit)}"
        )
        rows = [r for series in self.query(q) for r in _rows(series)]
        return [_latest(row, site=site, sensor=sensor) for row in rows]

    def count_readings(self) -> int:
        q = 'SELECT count("value") FROM "reading"; SELECT count("state") FROM "reading"'
        return sum(int(row[1]) for series in self.query(q) for row in series["values"])

    # -- other series -------------------------------------------------------------------

    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None,
        limit: int,
    ) -> list[Row]:
        tag_keys, field_types = self._schema(measurement)
        if not field_types:
            return []
        where = [time_range(from_ms, to_ms)]
        where += [f"{ident(k)} = {literal(v)}" for k, v in (tags or {}).items()]
        q = (
            f"SELECT * FROM {ident(measurement)} WHERE {' AND '.join(where)} "
            f"ORDER BY time DESC LIMIT {int(limit)}"
        )
        series_list = self.query(q)
        columns = {c for series in series_list for c in series.get("columns", [])}
        if not columns <= tag_keys | field_types.keys() | {"time"}:
            tag_keys, field_types = self._schema(measurement, fresh=True)  # a new key
        out = []
        for series in series_list:
            for row in _rows(series):
                row_tags = {k: str(v) for k, v in row.items() if k in tag_keys and v is not None}
                fields = {
                    k: _cast(v, field_types.get(k))
                    for k, v in row.items()
                    if k != "time" and k not in tag_keys and v is not None
                }
                out.append(Row(int(row["time"]), row_tags, fields))
        return out

    def _schema(
        self, measurement: str, *, fresh: bool = False
    ) -> tuple[frozenset[str], dict[str, str]]:
        now = time.monotonic()
        with self._lock:
            cached = self._schemas.get(measurement)
        if cached is not None and now - cached[0] < _SCHEMA_TTL_S and not fresh:
            return cached[1], cached[2]
        name = ident(measurement)
        tag_keys = frozenset(
            str(v[0]) for s in self.query(f"SHOW TAG KEYS FROM {name}") for v in s["values"]
        )
        field_types = {
            str(v[0]): str(v[1])
            for s in self.query(f"SHOW FIELD KEYS FROM {name}")
            for v in s["values"]
        }
        if field_types:
            with self._lock:
                self._schemas[measurement] = (now, tag_keys, field_types)
        return tag_keys, field_types


def _rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    columns = series.get("columns", [])
    return [dict(zip(columns, values, strict=False)) for values in series.get("values", [])]


def _latest(row: dict[str, Any], *, site: str, sensor: str) -> Latest:
    value = row.get("value")
    return Latest(
        site=site,
        gateway=str(row.get("gateway") or ""),
        sensor=sensor,
        kind=str(row.get("kind") or ""),
        ts_ms=int(row["time"]),
        value=float(value) if value is not None else None,
        state=row.get("state"),
        quality=str(row.get("quality") or "good"),
        over_range=bool(row.get("over_range")),
    )


def _cast(value: Any, field_type: str | None) -> FieldValue:
    if field_type == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
