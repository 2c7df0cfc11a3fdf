"""The InfluxQL behind every panel, in one place (series of docs/contract.md §5).

Grafana substitutes `$timeFilter`, `$__interval` and the dashboard variables
(`$site`, `$priority`, `$instance`) before InfluxDB sees a query. Safety trends plot
the worst value of each interval (the highest; the lowest for oxygen), so a short
gas peak is not averaged away on a zoomed-out chart.

"Now" figures (risk grade, active alarms, gateways online) take the latest point
whenever it was written, not only inside the time range: the alarm service writes
`site_risk` and `alarm_event` on change, so a site blue for a week is still on the map.
"""

from __future__ import annotations

from hazmon.contract.kinds import Kind

# -- readings ----------------------------------------------------------------------

WORST_OF_INTERVAL: dict[Kind, str] = {
    Kind.combustible_gas: "max",
    Kind.toxic_gas: "max",
    Kind.oxygen: "min",
    Kind.residual_current: "max",
    Kind.cable_temperature: "max",
}


def reading_trend(kind: Kind) -> str:
    """One series per sensor of the site, named `site/sensor` like its alarm key."""
    selector = WORST_OF_INTERVAL.get(kind, "mean")
    return (
        f'SELECT {selector}("value") FROM "reading" '
        f"WHERE \"site\" = '$site' AND \"kind\" = '{kind.value}' AND $timeFilter "
        'GROUP BY time($__interval), "site", "sensor" fill(none)'
    )


def interlock_states() -> str:
    return (
        'SELECT last("state") FROM "reading" '
        "WHERE \"site\" = '$site' AND \"kind\" = 'interlock' AND $timeFilter "
        'GROUP BY time($__interval), "site", "sensor" fill(previous)'
    )


# -- site risk -----------------------------------------------------------------------

SITE_RISK_NOW = (
    'SELECT last("level") AS "level", last("grade") AS "grade", '
    'last("lat") AS "lat", last("lon") AS "lon" FROM "site_risk" GROUP BY "site"'
)
SITE_RISK_TREND = (
    'SELECT last("level") FROM "site_risk" WHERE $timeFilter '
    'GROUP BY time($__interval), "site" fill(previous)'
)
ONE_SITE_RISK_NOW = 'SELECT last("level") AS "level" FROM "site_risk" WHERE "site" = \'$site\''

# -- alarms ----------------------------------------------------------------------------


def active_alarms_by_priority(site_filter: str = "") -> str:
    """Occurrences not yet ended (latest state of each alarm point is not `normal`),
    counted by priority; the same notion as `GET /api/v1/alarms?active=true`."""
    where = f"WHERE {site_filter} " if site_filter else ""
    return (
        'SELECT count("state") FROM (SELECT last("state") AS "state" FROM "alarm_event" '
        f'{where}GROUP BY "site", "sensor", "condition", "priority") '
        'WHERE "state" != \'normal\' GROUP BY "priority"'
    )


ALARM_FILTER = '"site" =~ /^$site$/ AND "priority" =~ /^$priority$/'
ALARMS_RAISED_PER_10_MIN = (
    'SELECT count("alarm_id") FROM "alarm_event" '
    f"WHERE \"event\" = 'raised' AND {ALARM_FILTER} AND $timeFilter "
    'GROUP BY time(10m), "priority" fill(0)'
)
ALARM_EVENT_TABLE = (
    'SELECT "alarm_id", "site", "sensor", "condition", "priority", "event", "state", '
    '"value", "user", "note" FROM "alarm_event" '
    f"WHERE {ALARM_FILTER} AND $timeFilter ORDER BY time DESC LIMIT 1000"
)
BAD_ACTORS = (
    'SELECT count("alarm_id") AS "raised" FROM "alarm_event" '
    f"WHERE \"event\" = 'raised' AND {ALARM_FILTER} AND $timeFilter "
    'GROUP BY "site", "sensor", "condition"'
)


def alarm_annotation(*, events: str, site_filter: str) -> str:
    """Alarm events as annotations: `events` is a regex of event kinds."""
    return (
        'SELECT "alarm_id", "state", "note", "condition", "priority", "event" '
        f'FROM "alarm_event" WHERE "event" =~ /^({events})$/ AND {site_filter} '
        "AND $timeFilter"
    )


# -- gateways ----------------------------------------------------------------------------

GATEWAYS_ONLINE = (
    'SELECT count("online") AS "online" FROM (SELECT last("online") AS "online" '
    'FROM "gateway_status" GROUP BY "site", "gateway") WHERE "online" = true'
)
GATEWAYS_KNOWN = (
    'SELECT count("online") AS "known" FROM (SELECT last("online") AS "online" '
    'FROM "gateway_status" GROUP BY "site", "gateway")'
)
GATEWAY_TABLE = (
    'SELECT last("online") AS "online", last("lost_messages") AS "lost_messages" '
    'FROM "gateway_status" {where}GROUP BY "site", "gateway"'
)
LOST_MESSAGES = (
    'SELECT non_negative_difference(last("lost_messages")) FROM "gateway_status" '
    'WHERE $timeFilter GROUP BY time($__interval), "site", "gateway" fill(none)'
)

# -- platform health (ingest_stats, docs/dashboards.md) ------------------------------------

INSTANCE_FILTER = '"instance" =~ /^$instance$/'
INGEST_RATE = (
    'SELECT non_negative_derivative(last("readings_in"), 1s) FROM "ingest_stats" '
    f"WHERE {INSTANCE_FILTER} AND $timeFilter "
    'GROUP BY time($__interval), "instance" fill(none)'
)
REJECTS_BY_REASON = (
    'SELECT non_negative_derivative(last("rejected"), 1m) FROM "ingest_stats" '
    f"WHERE {INSTANCE_FILTER} AND $timeFilter "
    'GROUP BY time($__interval), "reason", "instance" fill(none)'
)
SPOOL_DEPTH = (
    'SELECT max("spool_depth") FROM "ingest_stats" '
    f"WHERE {INSTANCE_FILTER} AND $timeFilter "
    'GROUP BY time($__interval), "instance" fill(none)'
)
WRITE_LATENCY_MAX = (
    'SELECT max("write_latency_ms") FROM "ingest_stats" '
    f"WHERE {INSTANCE_FILTER} AND $timeFilter "
    'GROUP BY time($__interval), "instance" fill(none)'
)
WRITE_LATENCY_MEAN = WRITE_LATENCY_MAX.replace(
    'max("write_latency_ms")', 'mean("write_latency_ms")'
)
