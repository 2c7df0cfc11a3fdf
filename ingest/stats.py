"""The `ingest_stats` series: ingest's own health, written to the store every 10 s.

Each report is one point tagged `instance` (the ingest's MQTT client id) with
`readings_in` (int, cumulative since start), `spool_depth` (int, batches) and
`write_latency_ms` (float, mean batch write time since the last report; left out
when nothing was written), plus one point per rejection reason, tagged `instance`
and `reason`, with `rejected` (int, cumulative since start). docs/ingest.md.
"""

from __future__ import annotations

from hazmon.ingest.writer import WriterStats
from hazmon.stores.base import Point
from hazmon.stores.spool import Spool

MEASUREMENT = "ingest_stats"


def stats_points(
    stats: WriterStats,
    spool: Spool,
    *,
    instance: str,
    now_ms: int,
    previous: WriterStats | None,
) -> tuple[list[Point], WriterStats]:
    """The points of one report, and the snapshot the next report compares with."""
    now = stats.snapshot()
    writes = now.writes - (previous.writes if previous else 0)
    latency_ms = None
    if writes > 0:
        spent_s = now.write_s_sum - (previous.write_s_sum if previous else 0.0)
        latency_ms = round(spent_s / writes * 1000, 3)
    tags = {"instance": instance}
    fields = {
        "readings_in": now.readings_in,
        "spool_depth": spool.depth,
        "write_latency_ms": latency_ms,
    }
    points = [Point(MEASUREMENT, tags, fields, now_ms)]
    for reason, count in sorted(now.rejected.items()):
        points.append(Point(MEASUREMENT, {**tags, "reason": reason}, {"rejected": count}, now_ms))
    return points, now
