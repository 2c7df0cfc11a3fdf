"""The journal kept anchored (alarms/journal/anchors.py: where anchors go, the rule they
follow): the head goes outside the data folder with every commit, the journal is
checked against the anchors at start, and verified against every anchor reachable.

    anchoring = Anchoring(data_dir=..., store=..., clock=..., publish=link_publish,
                          retained_head=read_retained, wake_store=store_wake.set)
    desk = AlarmDesk(..., anchoring=anchoring)      # the desk's commits move the head

The desk holds it (`AlarmDesk.anchoring`) and the service gives it its ways out: a
`publish` callable for the retained MQTT head, `retained_head` to read that back at
start, `wake_store` to have the store writer take the newest `journal_head` point
(`take_point`). No subclass and no hook to override.

- After every commit that journals an entry (`AlarmDb.on_head` -> `head_moved`, on
  whatever thread committed, the desk's lock held) the newest head goes out from the
  event loop (`attach`): retained on `hazmon/v1/journal/head` at once, and as a
  `journal_head` point with the store's next batch. Commits that come faster than the
  loop gets to them share one anchor, their newest head.
- `check()`, before the service takes a message (`AlarmDesk.check_anchors`): the
  journal must reach the retained head, the store's newest `journal_head` and the
  anchor file (each one's seq, with the same hash there), else `JournalBehind` names
  both seqs; with `accept_truncated_journal` (an auditor's decision) the decision is
  journalled (`_system/alarms/journal`, `truncation_accepted`) and the anchor file
  rebased.
- `write_file()`: the head into the anchor file (every `anchor_s` and at stop).
- `reachable()`: what the desk's `journal_verify()` checks: the head this service last
  published or wrote, the file's, the store's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import orjson

from hazmon.alarms import system
from hazmon.alarms.core.model import Event
from hazmon.alarms.journal import anchors
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.journal.chain import Head
from hazmon.contract import topics
from hazmon.contract.errors import HazmonError
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


class Publish(Protocol):
    """Publish on the broker (QoS 1), without waiting for it."""

    def __call__(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


class Anchoring:
    def __init__(
        self,
        *,
        data_dir: Path,
        store: Store,
        clock: Callable[[], int],
        publish: Publish,
        retained_head: Callable[[], Anchor | None],
        wake_store: Callable[[], None] = lambda: None,
        accept_truncated_journal: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.store = store
        self.accept_truncated_journal = accept_truncated_journal
        self.last_anchor: Anchor | None = None  # the newest head published or written
        self._clock = clock
        self._publish = publish
        self._retained_head = retained_head
        self._wake_store = wake_store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest: Head | None = None
        self._scheduled = False
        self._point: Point | None = None  # the newest anchor, for the store's next batch

    def _now(self) -> int:
        return int(self._clock())

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Anchor every new head from this event loop on."""
        self._loop = loop

    def detach(self) -> None:
        """Stop anchoring with every commit (stopping: the stop anchors the last head)."""
        self._loop = None

    # -- with every commit ------------------------------------------------------------------

    def head_moved(self, head: Head) -> None:
        """After a commit that journalled entries (any thread, the desk's lock held):
        have the event loop anchor the newest head, once for however many commits
        come before it gets to it."""
        self._latest = head
        loop = self._loop
        if self._scheduled or loop is None:
            return
        self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._publish_latest)
        except RuntimeError:  # the loop closed: stopping (the stop anchors)
            self._scheduled = False

    def _publish_latest(self) -> None:
        self._scheduled = False
        if self._latest is not None:
            self.publish_head(self._latest)

    def publish_head(self, head: Head) -> None:
        """On the event loop: the retained MQTT head now, the store's with the next
        batch (only the newest one goes)."""
        anchor = Anchor(head.seq, head.hash, self._now(), "this service")
        self._publish(topics.JOURNAL_HEAD, orjson.dumps(anchor.message()), retain=True)
        self.last_anchor = anchor
        self._point = anchor.point()
        self._wake_store()

    def take_point(self) -> Point | None:
        """The newest anchor's `journal_head` point, once (the store writer's)."""
        point, self._point = self._point, None
        return point

    def write_file(self, head: Head) -> Anchor:
        """`head` as an anchor, kept in the anchor file of the data folder."""
        anchor = Anchor(head.seq, head.hash, self._now(), "this service")
        anchors.write_file(self.data_dir, anchor)
        self.last_anchor = anchor
        return anchor

    # -- the journal against its anchors at start ------------------------------------------

    def found_at_start(self) -> list[Anchor | None]:
        """The anchors reachable before the service starts: the retained head (a short
        connection of its own), the store's, the file's."""
        return [self._retained_head(), anchors.read_store(self.store),
                anchors.read_file(self.data_dir)]

    def check(
        self,
        head: Head,
        hash_at: Callable[[int], str | None],
        found: list[Anchor | None],
        *,
        journal: Callable[[Event], Head],
    ) -> None:
        """Compare the journal ending at `head` with the anchors `found`; raise
        `JournalBehind` if it falls short of one, unless accepting that: then
        `journal(event)` journals the decision and the anchor file starts afresh."""
        log.info("journal ends at entry %d; anchors: %s", head.seq, ", ".join(
            f"{a.source} {a.seq}" for a in found if a is not None) or "none reachable")
        problems = anchors.behind(head.seq, hash_at, found)
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
        new_head = journal(accepted)
        top = anchors.highest(found)
        anchors.write_rebase(
            self.data_dir, Anchor(new_head.seq, new_head.hash, self._now()),
            was_seq=top.seq if top else 0,
        )

    # -- what the journal is verified against --------------------------------------------------

    def reachable(self) -> list[Anchor | None]:
        """Every anchor reachable now: the journal must reach each one."""
        mine = anchors.relabel(self.last_anchor, anchors.MQTT_SOURCE + ", as published"
                               ) if self.last_anchor else None
        in_file, ignored = anchors.read_file_all(self.data_dir)
        return [mine, in_file, *ignored, anchors.read_store(self.store)]
