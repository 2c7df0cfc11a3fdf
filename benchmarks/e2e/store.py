"""What InfluxDB holds: the durable count (a query) and a cheap live estimate (stats).

`stored_readings()` is the figure of record: `SELECT count(value) FROM reading`,
InfluxDB's own count of distinct points, minus the readiness probes. `points_written()`
reads the shard statistics (`SHOW STATS`, `writePointsOk` of the database's shards):
cheap enough to poll several times a second, but it counts every point written (alarm
events, rewrites) and is only used for the live display, the flat-out allowance and to
see when writing has stopped.
"""

from __future__ import annotations

from typing import Any

import httpx

from benchmarks.e2e.plant import PROBE_GATEWAY
from hazmon.testing.servers import InfluxDB


class Store:
    def __init__(self, influx: InfluxDB, database: str) -> None:
        self.influx = influx
        self.database = database
        self._http = httpx.Client(base_url=influx.url, timeout=30.0)

    def create(self) -> None:
        self.influx.create_database(self.database)

    def drop(self) -> None:
        self.influx.drop_database(self.database)

    def close(self) -> None:
        self._http.close()

    def _count(self, where: str = "") -> int:
        body = self.influx.query(self.database, f'SELECT count("value") FROM "reading"{where}')
        series = body["results"][0].get("series", [])
        return sum(int(row[1]) for s in series for row in s["values"])

    def probe_readings(self) -> int:
        return self._count(f" WHERE \"gateway\" = '{PROBE_GATEWAY}'")

    def stored_readings(self) -> int:
        """Distinct `reading` points of the load (the probes left out)."""
        return self._count() - self.probe_readings()

    def shard_stats(self) -> tuple[int, int]:
        """(points written, write requests) of this database, by InfluxDB's statistics."""
        response = self._http.get("/query", params={"q": "SHOW STATS"})
        body: dict[str, Any] = response.json()
        points = requests = 0
        for series in body["results"][0].get("series", []):
            tags = series.get("tags") or {}
            if series.get("name") != "shard" or tags.get("database") != self.database:
                continue
            row = dict(zip(series["columns"], series["values"][0], strict=True))
            points += int(row.get("writePointsOk", 0))
            requests += int(row.get("writeReqOk", 0))
        return points, requests

    def points_written(self) -> int:
        return self.shard_stats()[0]
