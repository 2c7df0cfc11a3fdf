"""The alarm desk with its journal anchored (alarms/journal/anchors.py): the service shell's
part that keeps the journal's head outside the data folder, checks the journal against
it at start, and verifies against every anchor it can reach.

- After every commit that journals an entry (`AlarmDb.on_head`), the newest head goes
  out from the event loop: retained on `hazmon/v1/journal/head` at once, and as a
  `journal_head` point with the store's next batch. Commits that come faster than the
  loop gets to them share one anchor, their newest head.
- `check_anchors()`, before the service takes a message: the journal must reach the
  retained head, the store's newest `journal_head` and the anchor file (each one's seq,
  with the same hash there), else `JournalBehind` names both seqs; with
  `accept_truncated_journal` (an auditor's decision) the decision is journalled
  (`_system/alarms/journal`, `truncation_accepted`) and the anchor file rebased.
- `journal_verify()` (the API's) checks every anchor: the head this service last
  published, the store's, the file's.

Subclasses provide `_publish` (MQTT) and drain `_head_point` into their store batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from hazmon.alarms import system
from hazmon.alarms.journal import anchors
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.journal.chain import Head
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import connect as connect_db
from hazmon.bus.mqtt import MqttOptions
from hazmon.contract import topics
from hazmon.contract.errors import HazmonError
from hazmon.contract.registry import Registry
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.stores.base import Point, Store

log = logging.getLogger(__name__)


class JournalBehind(HazmonError):
    """The journal falls short of an anchor: entries were cut off or rewritten since
    it was anchored. The service does not start on it unless told to."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "refusing to start: " + "; ".join(problems) + ". The journal was cut off or "
            "rewritten since it was anchored. Restore it, or, if an auditor approved "
            "running on it, start with --accept-truncated-journal (that is journalled)."
        )


class AnchoredDesk(AlarmDesk):
    def __init__(
        self,
        *,
        registry: Registry,
        data_dir: Path,
        store: Store,
        clock: Callable[[], int],
        broker: BrokerAddress,
        settings: Settings,
        accept_truncated_journal: bool = False,
    ) -> None:
        super().__init__(registry=registry, data_dir=data_dir, store=store, clock=clock)
        self.broker = broker
        self.settings = settings
        self.accept_truncated_journal = accept_truncated_journal
        self._store_wake: asyncio.Event | None = None
        self._head_latest: Head | None = None
        self._head_scheduled = False
        self._head_point: Point | None = None  # the newest anchor, for the next store batch
        self.db.on_head = self._head_moved

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish on the broker: the service built on this desk (AlarmService) has the
        connection and overrides this; the desk alone has none to anchor on."""
        raise NotImplementedError("an anchored desk publishes through its service")

    # -- anchoring with every commit --------------------------------------------------------

    def _head_moved(self, head: Head) -> None:
        """After a commit that journalled entries (any thread, the desk's lock held):
        have the event loop anchor the newest head, once for however many commits
        come before it gets to it."""
        self._head_latest = head
        loop = self._loop
        if self._head_scheduled or loop is None:
            return
        self._head_scheduled = True
        try:
            loop.call_soon_threadsafe(self._publish_latest_head)
        except RuntimeError:  # the loop closed: stopping (the stop anchors)
            self._head_scheduled = False

    def _publish_latest_head(self) -> None:
        self._head_scheduled = False
        if self._head_latest is not None:
            self._publish_head(self._head_latest)

    def _publish_head(self, head: Head) -> None:
        """On the event loop: the retained MQTT head now, the store's with the next
        batch (only the newest one goes)."""
        anchor = Anchor(head.seq, head.hash, self._now(), "this service")
        self._publish(topics.JOURNAL_HEAD, orjson.dumps(anchor.message()), retain=True)
        self.last_anchor = anchor
        self._head_point = anchor.point()
        if self._store_wake is not None:
            self._store_wake.set()

    # -- the journal against its anchors at start ------------------------------------------

    def check_anchors(self) -> None:
        """Compare the journal with the anchors reachable (retained head, store, file);
        raise `JournalBehind` if it falls short of one, unless accepting that (then
        journal the decision and anchor afresh)."""
        found = [self._retained_head(), anchors.read_store(self.store),
                 anchors.read_file(self.data_dir)]
        with self._lock:
            head = self.db.head
            log.info("journal ends at entry %d; anchors: %s", head.seq, ", ".join(
                f"{a.source} {a.seq}" for a in found if a is not None) or "none reachable")
            problems = anchors.behind(head.seq, self.db.hash_at, found)
            if not problems:
                return
            if not self.accept_truncated_journal:
                raise JournalBehind(problems)
            note = ("started with --accept-truncated-journal: " + "; ".join(problems))
            log.warning("journal: %s", note)
            accepted = system.event(
                "alarms/journal", "truncation_accepted", alarm_id=None, ts_ms=self._now(),
                from_state=None, state=None, note=note, published=False,
            )
            new_head = self.db.commit([accepted], self.engine.take_dirty())
            top = anchors.highest(found)
            anchors.write_rebase(
                self.data_dir, Anchor(new_head.seq, new_head.hash, self._now()),
                was_seq=top.seq if top else 0,
            )

    def _retained_head(self) -> Anchor | None:
        """The retained head on the broker (a short connection of its own)."""
        opts = MqttOptions.build(self.broker, self.settings, client_id="", clean_start=True)
        return anchors.read_mqtt_with(opts, attempts=3, timeout_s=10.0)

    # -- the Desk: audit, against every anchor reachable --------------------------------------

    def _reachable_anchors(self) -> list[Anchor | None]:
        mine = anchors.relabel(self.last_anchor, anchors.MQTT_SOURCE + ", as published"
                               ) if self.last_anchor else None
        in_file, ignored = anchors.read_file_all(self.data_dir)
        return [mine, in_file, *ignored, anchors.read_store(self.store)]

    def anchor(self) -> Anchor | None:
        """The highest anchor reachable: the journal must reach it (and all others)."""
        return anchors.highest(self._reachable_anchors())

    def journal_verify(self) -> dict[str, Any]:
        conn = connect_db(self.db.path, readonly=True)
        try:
            return journal.verify(journal.rows(conn), self._reachable_anchors()).answer()
        finally:
            conn.close()
