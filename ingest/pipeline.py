"""One MQTT message in, an Outcome out: readings, dead letters, gateway_status points.

Runs on the bus link's thread (paho's network thread on MQTT) for every message of
every batch the link hands ingest, so it does little per reading: the foundation's
decoder does the checking, rejections become dead letters, and the gateway tracker
follows `seq` and `boot`. Bad input never raises out of here.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from hazmon.contract.lineproto import ReadingEncoder
from hazmon.contract.registry import Registry
from hazmon.contract.sequence import BOOT_JUMP, MAX_BOOT_STEP
from hazmon.contract.topics import parse_gateway_topic
from hazmon.contract.wire import (
    MAX_PAYLOAD_BYTES,
    Decoder,
    GatewayState,
    Lines,
    Reason,
    Rejection,
)
from hazmon.ingest.batch import Outcome
from hazmon.ingest.deadletter import DeadLetter
from hazmon.ingest.feeds import FeedCounter, not_good
from hazmon.ingest.gateways import GatewayTracker

MAX_DEAD_PAYLOAD_BYTES = 64 * 1024
INTERNAL_ERROR = "internal_error"
STORE_REJECTED = "store_rejected"


class Pipeline:
    """`lines`: the store takes line protocol (InfluxDB): telemetry comes out as its
    lines (`Outcome.lines`), decoded and encoded in one pass where it can be
    (`Decoder.decode_lines`), never as Readings."""

    def __init__(self, registry: Registry, *, track_seq: bool = True,
                 lines: bool = False) -> None:
        self.decoder = Decoder(registry)
        self.encoder = ReadingEncoder() if lines else None
        self.tracker = GatewayTracker({
            (site.id, gateway.id): gateway.offline_after_s
            for site in registry.sites for gateway in site.gateways
        })
        self.track_seq = track_seq
        self.feeds = FeedCounter()  # the gateway_feed series (ingest/feeds.py)

    def use_registry(self, registry: Registry) -> None:
        """Decode by a changed registry from the next message on (SIGHUP)."""
        self.decoder = Decoder(registry)
        self.tracker.use_offline_after({
            (site.id, gateway.id): gateway.offline_after_s
            for site in registry.sites for gateway in site.gateways
        })

    def handle(self, topic: str, payload: bytes, now_ms: int) -> Outcome:
        parts = parse_gateway_topic(topic)
        if parts is None:
            return _dead(topic, payload, now_ms, Reason.bad_topic, "not hazmon/v1/SITE/GW/...")
        site, gateway, leaf = parts
        if leaf == "telemetry":
            return self.telemetry(topic, site, gateway, payload, now_ms)
        if leaf == "state":
            return self.state(topic, site, gateway, payload, now_ms)
        return _dead(topic, payload, now_ms, Reason.bad_topic, f"no such leaf {leaf!r}")

    def telemetry(
        self, topic: str, site: str, gateway: str, payload: bytes, now_ms: int
    ) -> Outcome:
        if self.encoder is not None:
            fast = self.decoder.decode_lines(site, gateway, payload, now_ms=now_ms,
                                             encoder=self.encoder)
            if fast is not None:
                return self._lines(topic, site, gateway, payload, now_ms, fast)
        decoded = self.decoder.decode(site, gateway, payload, now_ms=now_ms)
        if decoded.boot is not None and self.tracker.boot_jump(site, gateway, decoded.boot):
            return self._boot_jump(topic, site, gateway, payload, now_ms, decoded.boot)
        out = Outcome(readings=decoded.readings, gateway=(site, gateway))
        if self.encoder is not None:
            out.readings, out.lines = (), self.encoder.encode_all(decoded.readings)
        if not decoded.whole_message_rejected:
            self.feeds.count(
                site, gateway, now_ms, readings=len(decoded.readings),
                historical=decoded.historical,
                not_good=not_good(r.quality for r in decoded.readings),
            )
        if decoded.rejections:
            out.dead = [_letter(topic, payload, now_ms, r) for r in decoded.rejections]
        if decoded.boot is not None and decoded.seq is not None:
            self._observe(out, site, gateway, decoded.boot, decoded.seq, now_ms)
        return out

    def _observe(self, out: Outcome, site: str, gateway: str, boot: int, seq: int,
                 now_ms: int) -> None:
        """The gateway's `seq` and `boot` followed (losses, reboots, its status point)."""
        if self.track_seq:
            seen = self.tracker.observe(site, gateway, boot, seq, now_ms)
            out.lost, out.rebooted = seen.lost, seen.rebooted
            if seen.status is not None:
                out.points.append(seen.status)

    def _lines(self, topic: str, site: str, gateway: str, payload: bytes, now_ms: int,
               fast: Lines) -> Outcome:
        """A message `decode_lines` took whole: as `telemetry` does with a decoded one."""
        if self.tracker.boot_jump(site, gateway, fast.boot):
            return self._boot_jump(topic, site, gateway, payload, now_ms, fast.boot)
        out = Outcome(lines=fast.lines, gateway=(site, gateway))
        self.feeds.count(site, gateway, now_ms, readings=len(fast.lines),
                         historical=fast.historical, not_good=fast.not_good)
        self._observe(out, site, gateway, fast.boot, fast.seq, now_ms)
        return out

    def state(self, topic: str, site: str, gateway: str, payload: bytes, now_ms: int) -> Outcome:
        if not payload:
            return Outcome()  # a retained state being cleared
        if not self.decoder.knows_gateway(site, gateway):
            detail = f"no gateway {gateway!r} at {site!r}"
            return _dead(topic, payload, now_ms, Reason.unknown_gateway, detail)
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _dead(topic, payload, now_ms, Reason.too_large, "state over 1 MiB")
        try:
            doc: Any = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return _dead(topic, payload, now_ms, Reason.not_json, f"not JSON: {exc}")
        try:
            state = GatewayState.model_validate(doc, strict=True)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return _dead(topic, payload, now_ms, Reason.bad_shape, detail or "bad state")
        if self.tracker.boot_jump(site, gateway, state.boot):
            return self._boot_jump(topic, site, gateway, payload, now_ms, state.boot)
        ts_ms = state.ts_ms if state.ts_ms is not None else now_ms
        seen = self.tracker.set_online(site, gateway, state.online, state.boot, ts_ms)
        assert seen.status is not None
        return Outcome(points=[seen.status], rebooted=seen.rebooted, gateway=(site, gateway))

    def _boot_jump(
        self, topic: str, site: str, gateway: str, payload: bytes, now_ms: int, boot: int
    ) -> Outcome:
        last = self.tracker.state(site, gateway).boot
        detail = (f"boot {boot} is more than {MAX_BOOT_STEP} beyond the gateway's last "
                  f"boot {last}: not adopted")  # fmt: skip
        return _dead(topic, payload, now_ms, BOOT_JUMP, detail)


def letter(
    topic: str, payload: bytes, now_ms: int, reason: str, detail: str, index: int | None = None
) -> DeadLetter:
    """A dead letter, its payload cut to MAX_DEAD_PAYLOAD_BYTES (memory stays bounded)."""
    return DeadLetter(
        topic, reason, detail, payload[:MAX_DEAD_PAYLOAD_BYTES], now_ms, index, len(payload)
    )


def _letter(topic: str, payload: bytes, now_ms: int, rejection: Rejection) -> DeadLetter:
    reason = rejection.reason.value
    if rejection.index is None:
        return letter(topic, payload, now_ms, reason, rejection.detail)
    try:
        raw = orjson.dumps(rejection.raw)
    except TypeError:  # nested too deep to re-encode: keep the whole message instead
        raw = payload
    return letter(topic, raw, now_ms, reason, rejection.detail, rejection.index)


def _dead(topic: str, payload: bytes, now_ms: int, reason: Reason | str, detail: str) -> Outcome:
    return Outcome(dead=[letter(topic, payload, now_ms, str(reason), detail)])


def internal_error(topic: str, payload: bytes, now_ms: int, exc: BaseException) -> Outcome:
    """A message that made ingest itself fail: kept as a dead letter, never retried."""
    return _dead(topic, payload, now_ms, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
