"""Journal anchors: the head of the chain (`seq`, `hash`) written outside the journal
file, every minute and at stop, so that `verify` also catches a cut-off tail.

Where anchors go, and where `verify` looks for the newest one it can reach:
- the retained MQTT message on `hazmon/v1/journal/head` (CONTRACT §2);
- the `journal_head` series of the store (CONTRACT §5);
- `journal-anchors.jsonl` in the data folder, next to (not inside) the journal DB.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stores.base import Point, Store, StoreError

ANCHOR_FILE = "journal-anchors.jsonl"
MEASUREMENT = "journal_head"
FAR_FUTURE_MS = 2**53


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str
    ts_ms: int
    source: str = ""

    def message(self) -> dict[str, Any]:
        """The retained payload of `hazmon/v1/journal/head`."""
        return {"seq": self.seq, "hash": self.hash, "ts_ms": self.ts_ms}

    def answer(self) -> dict[str, Any]:
        return {**self.message(), "source": self.source}

    def point(self) -> Point:
        return Point(MEASUREMENT, {}, {"seq": self.seq, "hash": self.hash}, self.ts_ms)


def parse(doc: Any, source: str) -> Anchor | None:
    """An anchor from a JSON document, None if it is not one."""
    if not isinstance(doc, dict):
        return None
    seq, digest, ts_ms = doc.get("seq"), doc.get("hash"), doc.get("ts_ms")
    if type(seq) is not int or not isinstance(digest, str) or type(ts_ms) is not int:
        return None
    return Anchor(seq, digest, ts_ms, source)


def write_file(data_dir: Path, anchor: Anchor) -> None:
    """Append to the anchor file and make it durable."""
    path = data_dir / ANCHOR_FILE
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(anchor.message()) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_file(data_dir: Path) -> Anchor | None:
    """The last complete line of the anchor file."""
    path = data_dir / ANCHOR_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            found = parse(json.loads(line), f"file {path}")
            if found is not None:
                return found
    return None


def read_store(store: Store) -> Anchor | None:
    """The newest `journal_head` point of the store, None if it has none or is down."""
    try:
        found = store.points(MEASUREMENT, from_ms=0, to_ms=FAR_FUTURE_MS, limit=1)
    except StoreError:
        return None
    if not found:
        return None
    row = found[0]
    seq, digest = row.fields.get("seq"), row.fields.get("hash")
    if isinstance(seq, float) and seq.is_integer():
        seq = int(seq)
    if type(seq) is not int or not isinstance(digest, str):
        return None
    return Anchor(seq, digest, row.ts_ms, f"store {MEASUREMENT}")


def newest(candidates: Iterable[Anchor | None]) -> Anchor | None:
    """The newest anchor: the latest written, then the highest seq."""
    found = [a for a in candidates if a is not None]
    if not found:
        return None
    return max(found, key=lambda a: (a.ts_ms, a.seq))


def relabel(anchor: Anchor, source: str) -> Anchor:
    return replace(anchor, source=source)


def read_mqtt(url: str, settings: Any, *, timeout_s: float = 3.0) -> Anchor | None:
    """The retained anchor on `hazmon/v1/journal/head`, None when none arrives in time."""
    import threading

    from hazmon import topics
    from hazmon.mqtt import MqttError, MqttOptions, connect
    from hazmon.settings import parse_broker_url

    opts = MqttOptions.build(parse_broker_url(url), settings, client_id="", clean_start=True)
    try:
        client, _ = connect(opts, attempts=1, timeout_s=timeout_s)
    except MqttError:
        return None
    found: list[Anchor] = []
    got = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with contextlib.suppress(ValueError):
            anchor = parse(json.loads(msg.payload), f"mqtt {topics.JOURNAL_HEAD} (retained)")
            if anchor is not None:
                found.append(anchor)
        got.set()

    client.on_message = on_message
    client.subscribe(topics.JOURNAL_HEAD, qos=1)
    got.wait(timeout_s)
    client.disconnect()
    client.loop_stop()
    return found[0] if found else None
