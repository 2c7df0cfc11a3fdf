"""The wire contract (docs/contract.md §2, §3, §6): message models and the telemetry decoder.

The decoder is on the hot path of every reading (ingest and the alarm service both
decode every message). A message is first parsed by a typed msgspec decoder that
validates its shape while it parses (`_FastBatch`), then checked against a per-gateway
index of the registry; a message that passes every check comes out of that path. Any
message it does not take whole (a bad field, an unknown sensor, a reading too far
ahead: anything to reject) goes through the checked path instead (`_decode_checked`:
orjson and a check per field), which says exactly what is wrong with each reading and
keeps the good ones. The two give the same answer for every message the fast path
takes (tests/contract/test_wire_fast.py, hypothesis). The pydantic models document the
same shapes, give the JSON Schema, and are used where speed does not matter.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

import msgspec
import orjson
from pydantic import BaseModel, ConfigDict, Field

from hazmon.contract.kinds import INTERLOCK_STATES, QUALITIES, Kind
from hazmon.contract.registry import Registry
from hazmon.contract.sequence import MAX_WIRE_INT, in_bounds

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_READINGS = 5000
MAX_FUTURE_MS = 5 * 60 * 1000
Quality = Literal["good", "bad", "uncertain", "maintenance"]
InterlockState = Literal["normal", "tripped", "bypassed", "fault"]


# -- message models ---------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WireReading(_Wire):
    sensor: str
    ts_ms: int
    value: float | None = None
    state: InterlockState | None = None
    quality: Quality = "good"


class TelemetryBatch(_Wire):
    boot: int = Field(ge=0, le=MAX_WIRE_INT)
    seq: int = Field(ge=0, le=MAX_WIRE_INT)
    sent_ms: int | None = None
    historical: bool = False
    readings: list[WireReading] = Field(min_length=1, max_length=MAX_READINGS)


class GatewayState(_Wire):
    online: bool
    boot: int = Field(default=0, ge=0, le=MAX_WIRE_INT)
    ts_ms: int | None = None


class RiskMessage(_Wire):
    site: str
    grade: Literal["blue", "yellow", "orange", "red"]
    ts_ms: int


class JournalHead(_Wire):
    seq: int
    hash: str
    ts_ms: int


AlarmEventKind = Literal[
    "raised",
    "cleared",
    "acked",
    "reset",
    "shelved",
    "unshelved",
    "suppressed",
    "unsuppressed",
    "escalated",
    "notified",
    "notify_failed",
    "historical",
]
AlarmState = Literal[
    "normal", "unack", "acked", "rtn_unack", "shelved", "suppressed", "out_of_service"
]


class AlarmEvent(_Wire):
    alarm_id: str
    key: str
    site: str
    gateway: str
    sensor: str
    condition: str
    priority: Literal["critical", "high", "medium"]
    event: AlarmEventKind
    state: AlarmState
    returned: bool = False
    value: float | str | None = None
    ts_ms: int
    user: str | None = None
    note: str | None = None


# -- decoded readings ---------------------------------------------------------------


class Reading(msgspec.Struct, gc=False):
    """One accepted reading, with the registry facts the consumers need (a msgspec
    Struct: made for every reading, and three times cheaper to make than a dataclass;
    it holds no other object, so the garbage collector need not track it)."""

    site: str
    gateway: str
    sensor: str
    kind: str
    ts_ms: int
    value: float | None
    state: str | None
    quality: str
    over_range: bool
    historical: bool


class Reason(StrEnum):
    """Why a message or a reading was rejected."""

    too_large = "too_large"
    not_json = "not_json"
    bad_shape = "bad_shape"
    bad_topic = "bad_topic"
    unknown_gateway = "unknown_gateway"
    unknown_sensor = "unknown_sensor"
    wrong_type = "wrong_type"
    value_on_interlock = "value_on_interlock"
    state_on_analog = "state_on_analog"
    future_timestamp = "future_timestamp"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejected message (`index` None) or one rejected reading of it."""

    reason: Reason
    detail: str
    index: int | None = None
    raw: Any = None


@dataclass(slots=True)
class Decoded:
    site: str
    gateway: str
    boot: int | None
    seq: int | None
    sent_ms: int | None
    historical: bool
    readings: list[Reading]
    rejections: list[Rejection]

    @property
    def whole_message_rejected(self) -> bool:
        return len(self.rejections) == 1 and self.rejections[0].index is None


@dataclass(slots=True)
class Lines:
    """A telemetry message as line protocol (`Decoder.decode_lines`): one line per
    reading, in order; `not_good`: how many readings are not of `good` quality."""

    boot: int
    seq: int
    sent_ms: int | None
    historical: bool
    lines: list[str]
    not_good: int


class LineEncoder(Protocol):
    """What `Decoder.decode_lines` encodes with (hazmon.contract.lineproto.ReadingEncoder)."""

    def good_heads(self, site: str, gateway: str) -> dict[str, str]:
        """The gateway's table: a sensor's tag part for `good` readings, by sensor;
        `encode` of a good analog reading in range fills it."""
        ...

    def encode(self, reading: Reading) -> str: ...


@dataclass(frozen=True, slots=True)
class _SensorInfo:
    kind: str
    analog: bool
    range_high: float | None


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 60, 60
_SHORT.maxlist = _SHORT.maxdict = 4


def short(value: Any) -> str:
    """A bounded repr of untrusted input for a rejection's sentence (no recursion)."""
    return _SHORT.repr(value)


class _FastReading(msgspec.Struct, forbid_unknown_fields=True):
    """A reading as the fast path takes it: a field absent is UNSET (`"state": null` is
    no interlock state, so it is left to the checked path, as every null is)."""

    sensor: str
    ts_ms: int
    value: float | msgspec.UnsetType = msgspec.UNSET
    state: InterlockState | msgspec.UnsetType = msgspec.UNSET
    quality: Quality = "good"


class _FastBatch(msgspec.Struct, forbid_unknown_fields=True):
    boot: int
    seq: int
    readings: list[_FastReading]
    sent_ms: int | msgspec.UnsetType = msgspec.UNSET
    historical: bool = False


_FAST = msgspec.json.Decoder(_FastBatch)
_BIG = float(2**63)


class Decoder:
    """Turns raw telemetry payloads into good readings plus one rejection per bad one."""

    def __init__(self, registry: Registry) -> None:
        self._gateways: dict[tuple[str, str], dict[str, _SensorInfo]] = {}
        for site in registry.sites:
            for gateway in site.gateways:
                index: dict[str, _SensorInfo] = {}
                for sensor in gateway.sensors:
                    high = sensor.range[1] if sensor.range else None
                    index[sensor.id] = _SensorInfo(
                        sensor.kind.value, sensor.kind is not Kind.interlock, high
                    )
                self._gateways[(site.id, gateway.id)] = index

    def decode_lines(self, site: str, gateway: str, payload: bytes, *, now_ms: int,
                     encoder: LineEncoder) -> Lines | None:
        """The message straight to line protocol when it is good throughout, as
        `encoder.encode` of each reading `decode` gives (ingest, where the store is
        InfluxDB: no Reading is made for a `good` analog reading in range, most of
        them); None when `decode` would refuse anything in it, or take it by the
        checked path."""
        sensors = self._gateways.get((site, gateway))
        if sensors is None or len(payload) > MAX_PAYLOAD_BYTES:
            return None
        batch = _fast_batch(payload)
        if batch is None:
            return None
        readings = batch.readings
        sent_ms = batch.sent_ms
        historical = batch.historical
        latest_ms = now_ms + MAX_FUTURE_MS
        unset = msgspec.UNSET
        heads = encoder.good_heads(site, gateway)
        lines: list[str] = []
        add = lines.append
        not_good = 0
        for r in readings:
            name = r.sensor
            info = sensors.get(name)
            ts_ms = r.ts_ms
            if info is None or ts_ms < 0 or ts_ms > latest_ms:
                return None
            value, quality = r.value, r.quality
            if info.analog:
                if r.state is not unset or value is unset or not -_BIG < value < _BIG:
                    return None
                high = info.range_high
                over = high is not None and value > high
                if quality == "good" and not over:
                    head = heads.get(name)
                    if head is not None:
                        add(f"{head} value={value!r} {ts_ms}")
                        continue
                reading = Reading(site, gateway, name, info.kind, ts_ms, value, None, quality,
                                  over, historical)
            else:
                if value is not unset or r.state is unset:
                    return None
                reading = Reading(site, gateway, name, info.kind, ts_ms, None, r.state, quality,
                                  False, historical)
            if quality != "good":
                not_good += 1
            add(encoder.encode(reading))
        return Lines(batch.boot, batch.seq, None if sent_ms is unset else sent_ms, historical,
                     lines, not_good)

    def knows_gateway(self, site: str, gateway: str) -> bool:
        return (site, gateway) in self._gateways

    def decode(self, site: str, gateway: str, payload: bytes, *, now_ms: int) -> Decoded:
        sensors = self._gateways.get((site, gateway))
        if sensors is not None and len(payload) <= MAX_PAYLOAD_BYTES:
            fast = _decode_fast(site, gateway, sensors, payload, now_ms)
            if fast is not None:
                return fast
        return self._decode_checked(site, gateway, payload, now_ms=now_ms)

    def _decode_checked(self, site: str, gateway: str, payload: bytes, *,
                        now_ms: int) -> Decoded:
        """Every field checked: the good readings, and why each bad one is refused."""
        out = Decoded(site, gateway, None, None, None, False, [], [])
        sensors = self._gateways.get((site, gateway))
        if sensors is None:
            return _reject(out, Reason.unknown_gateway, f"no gateway {gateway!r} at {site!r}")
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _reject(out, Reason.too_large, f"{len(payload)} bytes is over 1 MiB")
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return _reject(out, Reason.not_json, f"not JSON: {exc}")
        problem = _batch_problem(doc)
        if type(doc) is dict and in_bounds(doc.get("boot")) and in_bounds(doc.get("seq")):
            # a rejected batch still arrived: its seq is no lost message
            out.boot, out.seq = doc["boot"], doc["seq"]
        if problem:
            return _reject(out, Reason.bad_shape, problem)
        out.sent_ms = doc.get("sent_ms")
        historical = out.historical = doc.get("historical", False)
        latest_ms = now_ms + MAX_FUTURE_MS
        accept = out.readings.append
        item: Any
        for i, item in enumerate(doc["readings"]):
            if type(item) is not dict:
                detail = "a reading must be a JSON object"
                out.rejections.append(Rejection(Reason.bad_shape, detail, i, item))
                continue
            raw: dict[str, Any] = item
            name: Any = raw.get("sensor")
            info = sensors.get(name) if type(name) is str else None
            if info is None:
                detail = f"sensor {short(name)} is not registered on {site}/{gateway}"
                out.rejections.append(Rejection(Reason.unknown_sensor, detail, i, raw))
                continue
            ts_ms = raw.get("ts_ms")
            if type(ts_ms) is not int or ts_ms < 0:
                detail = f"{name}: ts_ms must be a non-negative integer of milliseconds"
                out.rejections.append(Rejection(Reason.wrong_type, detail, i, raw))
                continue
            if ts_ms > latest_ms:
                detail = f"{name}: ts_ms is {(ts_ms - now_ms) / 1000:.0f} s ahead of the clock"
                out.rejections.append(Rejection(Reason.future_timestamp, detail, i, raw))
                continue
            quality: Any = raw.get("quality", "good")
            if type(quality) is not str or quality not in QUALITIES:
                detail = f"{name}: quality must be good, bad, uncertain or maintenance"
                out.rejections.append(Rejection(Reason.wrong_type, detail, i, raw))
                continue
            if not raw.keys() <= _READING_KEYS:
                extra = short(sorted(raw.keys() - _READING_KEYS))
                detail = f"{name}: unknown field(s) {extra}"
                out.rejections.append(Rejection(Reason.bad_shape, detail, i, raw))
                continue
            if info.analog:
                value: Any = raw.get("value")
                if "state" in raw:
                    detail = f"{name} is an analog sensor: it sends `value`, not `state`"
                    out.rejections.append(Rejection(Reason.state_on_analog, detail, i, raw))
                    continue
                vtype = type(value)
                if vtype is int:
                    value = float(value)
                elif vtype is not float or not math.isfinite(value):
                    detail = f"{name}: value must be a finite number, got {short(value)}"
                    out.rejections.append(Rejection(Reason.wrong_type, detail, i, raw))
                    continue
                over = info.range_high is not None and value > info.range_high
                accept(
                    Reading(
                        site, gateway, name, info.kind, ts_ms, value, None, quality, over,
                        historical,
                    )
                )
            else:
                state: Any = raw.get("state")
                if "value" in raw:
                    detail = f"{name} is an interlock: it sends `state`, not `value`"
                    out.rejections.append(Rejection(Reason.value_on_interlock, detail, i, raw))
                    continue
                if type(state) is not str or state not in INTERLOCK_STATES:
                    detail = f"{name}: state must be normal, tripped, bypassed or fault"
                    out.rejections.append(Rejection(Reason.wrong_type, detail, i, raw))
                    continue
                accept(
                    Reading(
                        site, gateway, name, info.kind, ts_ms, None, state, quality, False,
                        historical,
                    )
                )
        return out


def _fast_batch(payload: bytes) -> _FastBatch | None:
    """The message parsed by the fast path, with its batch-level bounds checked (the
    readings are the caller's); None when anything of that is to be refused."""
    try:
        batch = _FAST.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    sent_ms = batch.sent_ms
    if (not 1 <= len(batch.readings) <= MAX_READINGS or not 0 <= batch.boot <= MAX_WIRE_INT
            or not 0 <= batch.seq <= MAX_WIRE_INT
            or (sent_ms is not msgspec.UNSET and sent_ms < 0)):
        return None
    return batch


def _decode_fast(site: str, gateway: str, sensors: dict[str, _SensorInfo], payload: bytes,
                 now_ms: int) -> Decoded | None:
    """The message decoded, when it is good throughout; None when anything in it is to
    be refused (the checked path then says what)."""
    batch = _fast_batch(payload)
    if batch is None:
        return None
    readings = batch.readings
    sent_ms = batch.sent_ms
    historical = batch.historical
    latest_ms = now_ms + MAX_FUTURE_MS
    unset = msgspec.UNSET
    good: list[Reading] = []
    accept = good.append
    for r in readings:
        info = sensors.get(r.sensor)
        ts_ms = r.ts_ms
        if info is None or ts_ms < 0 or ts_ms > latest_ms:
            return None
        value, state = r.value, r.state
        if info.analog:
            if state is not unset or value is unset or not -_BIG < value < _BIG:
                return None  # an integer over 64 bits or inf: the checked path says
            high = info.range_high
            accept(Reading(site, gateway, r.sensor, info.kind, ts_ms, value, None, r.quality,
                           high is not None and value > high, historical))
        else:
            if value is not unset or state is unset:
                return None
            accept(Reading(site, gateway, r.sensor, info.kind, ts_ms, None, state, r.quality,
                           False, historical))
    return Decoded(site, gateway, batch.boot, batch.seq,
                   None if sent_ms is unset else sent_ms, historical, good, [])


_BATCH_KEYS = frozenset({"boot", "seq", "sent_ms", "historical", "readings"})
_READING_KEYS = frozenset({"sensor", "ts_ms", "value", "state", "quality"})


def _is_int(value: Any) -> bool:
    return type(value) is int and value >= 0


def _batch_problem(doc: Any) -> str | None:
    if type(doc) is not dict:
        return "the message must be a JSON object (a telemetry batch)"
    extra = doc.keys() - _BATCH_KEYS
    if extra:
        return f"unknown field(s) {', '.join(sorted(extra))} in the batch"
    if not in_bounds(doc.get("boot")) or not in_bounds(doc.get("seq")):
        return "`boot` and `seq` must be integers from 0 to 2^53-1"
    if "sent_ms" in doc and not _is_int(doc["sent_ms"]):
        return "`sent_ms` must be an integer of milliseconds"
    if type(doc.get("historical", False)) is not bool:
        return "`historical` must be true or false"
    readings = doc.get("readings")
    if type(readings) is not list or not 1 <= len(readings) <= MAX_READINGS:
        return f"`readings` must be a list of 1 to {MAX_READINGS} readings"
    return None


def _reject(out: Decoded, reason: Reason, detail: str) -> Decoded:
    out.rejections.append(Rejection(reason, detail))
    return out
