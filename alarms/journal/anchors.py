"""Journal anchors: the head of the chain (`seq`, `hash`) written outside the journal
file, so that `verify` also catches a cut-off tail or a chain rewritten from scratch.

Where anchors go, and when:
- the retained MQTT message on `hazmon/v1/journal/head` (docs/contract.md §2) and
- the `journal_head` series of the store (docs/contract.md §5): after every commit that
  journals an entry (published asynchronously, coalesced when commits come faster
  than they go out), every minute and at stop;
- `journal-anchors.jsonl` in the data folder, next to (not inside) the journal DB:
  every minute and at stop.

The rule (`Verification`, `behind`): the journal must reach the seq of EVERY anchor
it can reach, with the same hash there. No anchor outranks another, so an anchor
planted in the data folder can only make a check stricter, never make a shortened or
rewritten journal pass: the external anchors (broker, store) still hold the real head.
An anchor at seq 0 or with a hash that is not 64 hex digits says nothing and is
ignored (and listed as ignored).

After an auditor-approved restart on a shortened journal (`--accept-truncated-journal`),
the anchor file gets a `rebase` line: older lines of the file no longer count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hazmon.stores.base import Point, Store, StoreError

log = logging.getLogger(__name__)

ANCHOR_FILE = "journal-anchors.jsonl"
MEASUREMENT = "journal_head"
FAR_FUTURE_MS = 2**53
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


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

    @property
    def says_something(self) -> bool:
        """Whether the anchor names an entry: seq 1 or more and a sha256 hex digest."""
        return self.seq >= 1 and _DIGEST.match(self.hash) is not None


def parse(doc: Any, source: str) -> Anchor | None:
    """An anchor from a JSON document, None if it is not one."""
    if not isinstance(doc, dict):
        return None
    seq, digest, ts_ms = doc.get("seq"), doc.get("hash"), doc.get("ts_ms")
    if type(seq) is not int or not isinstance(digest, str) or type(ts_ms) is not int:
        return None
    return Anchor(seq, digest, ts_ms, source)


def split(candidates: Iterable[Anchor | None]) -> tuple[list[Anchor], list[Anchor]]:
    """(anchors that name an entry, highest seq first; anchors ignored)."""
    found = [a for a in candidates if a is not None]
    usable = sorted((a for a in found if a.says_something), key=lambda a: -a.seq)
    return usable, [a for a in found if not a.says_something]


def highest(candidates: Iterable[Anchor | None]) -> Anchor | None:
    """The anchor with the highest seq among those that name an entry: the one a
    journal must at least reach."""
    usable, _ = split(candidates)
    return usable[0] if usable else None


newest = highest  # the name callers used when the newest by time counted


def behind(
    head_seq: int, hash_at: Callable[[int], str | None], candidates: Iterable[Anchor | None]
) -> list[str]:
    """Why a journal ending at `head_seq` does not reach the anchors: one sentence per
    anchor it falls short of (a higher seq) or disagrees with (another hash at its
    seq); empty when it reaches them all. `hash_at(seq)` reads the journal."""
    problems = []
    for anchor in split(candidates)[0]:
        if anchor.seq > head_seq:
            problems.append(
                f"the journal ends at entry {head_seq} but the anchor ({anchor.source}) "
                f"has entry {anchor.seq}"
            )
        elif hash_at(anchor.seq) != anchor.hash:
            problems.append(
                f"entry {anchor.seq} of the journal (which ends at entry {head_seq}) does "
                f"not match the anchor ({anchor.source}): rewritten up to there"
            )
    return problems


def relabel(anchor: Anchor, source: str) -> Anchor:
    return replace(anchor, source=source)


# -- the file in the data folder ------------------------------------------------------------


def write_file(data_dir: Path, anchor: Anchor) -> None:
    """Append to the anchor file and make it durable."""
    _append(data_dir, json.dumps(anchor.message()))


def write_rebase(data_dir: Path, anchor: Anchor, *, was_seq: int) -> None:
    """Start the anchor file afresh at `anchor` (an accepted shortened journal): lines
    before this one no longer count."""
    _append(data_dir, json.dumps({"rebase": {"was_seq": was_seq}, **anchor.message()}))


def _append(data_dir: Path, line: str) -> None:
    """One line, on a line of its own even after a torn one (a crash mid-write)."""
    path = data_dir / ANCHOR_FILE
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as f:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        f.write(("\n" if torn else "") + line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_file(data_dir: Path) -> Anchor | None:
    """The anchor of the file: its highest seq since the last `rebase` line (so a line
    appended with a lower seq, or a torn one, changes nothing); None without one."""
    return read_file_all(data_dir)[0]


def read_file_all(data_dir: Path) -> tuple[Anchor | None, list[Anchor]]:
    """The anchor of the file (`read_file`) and the lines that name no entry (seq 0, a
    hash that is not a sha256 digest), to report as ignored."""
    path = data_dir / ANCHOR_FILE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None, []
    best: Anchor | None = None
    ignored: list[Anchor] = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        found = parse(doc, f"file {path}")
        if found is None:
            continue
        if "rebase" in doc:
            best = None
        if not found.says_something:
            ignored.append(found)
        elif best is None or found.seq > best.seq:
            best = found
    return best, ignored


# -- the store and the broker ------------------------------------------------------------------


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


MQTT_SOURCE = "mqtt hazmon/v1/journal/head (retained)"


def read_mqtt(url: str, settings: Any, *, timeout_s: float = 5.0) -> Anchor | None:
    """The retained anchor on `hazmon/v1/journal/head`; None when there is none, or
    the broker cannot be reached (raises nothing)."""
    from hazmon.bus.mqtt import MqttOptions
    from hazmon.contract.settings import parse_broker_url

    opts = MqttOptions.build(parse_broker_url(url), settings, client_id="", clean_start=True)
    return read_mqtt_with(opts, attempts=1, timeout_s=timeout_s)


def read_mqtt_with(opts: Any, *, attempts: int, timeout_s: float) -> Anchor | None:
    """`read_mqtt` with these `MqttOptions`; an unreachable broker is logged."""
    from hazmon.bus.mqtt import MqttError, connect

    try:
        client, _ = connect(opts, attempts=attempts, timeout_s=timeout_s)
    except MqttError as exc:
        log.warning("could not read the retained journal head: %s", exc)
        return None
    try:
        return retained_head(client, timeout_s=timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()


def retained_head(client: Any, *, timeout_s: float = 5.0) -> Anchor | None:
    """The retained anchor, read on a connected paho client (its loop running).

    The broker sends a subscription's retained message right after its SUBACK and
    before it handles the next packet; so once a second SUBACK is in, whatever was
    retained has arrived, and "no anchor" needs no waiting for a timeout."""
    from hazmon.contract import topics
    found: list[Anchor] = []
    subacks: list[int] = []
    done = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if msg.topic != topics.JOURNAL_HEAD or found:
            return
        with contextlib.suppress(ValueError):
            anchor = parse(json.loads(msg.payload), MQTT_SOURCE)
            if anchor is not None:
                found.append(anchor)

    def on_subscribe(_c: Any, _u: Any, mid: int, *_rest: Any) -> None:
        subacks.append(mid)
        if len(subacks) >= 2:
            done.set()

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.subscribe(topics.JOURNAL_HEAD, qos=1)
    client.subscribe(topics.JOURNAL_HEAD, qos=1)
    done.wait(timeout_s)
    client.unsubscribe(topics.JOURNAL_HEAD)
    return found[0] if found else None
