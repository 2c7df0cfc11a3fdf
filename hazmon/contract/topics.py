"""MQTT topics of docs/contract.md §2."""

from __future__ import annotations

ROOT = "hazmon/v1"
TELEMETRY_WILDCARD = f"{ROOT}/+/+/telemetry"
STATE_WILDCARD = f"{ROOT}/+/+/state"
ALARMS_WILDCARD = f"{ROOT}/+/alarms"
RISK_WILDCARD = f"{ROOT}/+/risk"
JOURNAL_HEAD = f"{ROOT}/journal/head"
# the alarm chain watched (docs/alarms.md, "The alarm chain watched")
CANARY = f"{ROOT}/_system/canary/ping"  # the watch's canary, to the alarm service
CANARY_ECHO = f"{ROOT}/_system/canary/echo"  # the alarm service's echo, to the watch
CHAIN_WILDCARD = f"{ROOT}/_system/chain/+"  # each watch's verdict (retained), by its name
BROKER_DROPPED = "$SYS/broker/publish/messages/dropped"  # Mosquitto's drop counter


def chain(watch: str) -> str:
    return f"{ROOT}/_system/chain/{watch}"


def telemetry(site: str, gateway: str) -> str:
    return f"{ROOT}/{site}/{gateway}/telemetry"


def state(site: str, gateway: str) -> str:
    return f"{ROOT}/{site}/{gateway}/state"


def alarms(site: str) -> str:
    return f"{ROOT}/{site}/alarms"


def risk(site: str) -> str:
    return f"{ROOT}/{site}/risk"


def parse_gateway_topic(topic: str) -> tuple[str, str, str] | None:
    """`hazmon/v1/{site}/{gateway}/{leaf}` -> (site, gateway, leaf), else None."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "hazmon" or parts[1] != "v1":
        return None
    return parts[2], parts[3], parts[4]
