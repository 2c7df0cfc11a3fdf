"""The bus seam (hazmon.bus.seam.Link) on NATS JetStream, for consumers that take every
message: ingest replicas share the durable consumer `ingest` (hazmon.bus.jetstream).

    link = JetStreamLink(servers, consumer=on_batch, name="ingest")
    await link.connect(); await link.subscribed()
    link.ack(items)   # from any thread, after the store accepted them
    link.close()

The pull loop runs on the event loop that called `connect`; each pulled batch (up to
`batch` messages, in stream order, gathered for at most LINGER_S once the first came)
goes to `consumer(items)` in a worker thread, and the next pull waits for it: while
the consumer works, the stream keeps the backlog on disk (no broker queue to
overflow). What is not acknowledged within the consumer's acknowledgement wait is
delivered again, to this replica or another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from nats.aio.client import Client as Nats
from nats.aio.msg import Msg

from hazmon.bus import jetstream as js
from hazmon.bus.seam import Consumer, Inbound

log = logging.getLogger(__name__)

LINGER_S = 0.05  # a batch waits this long to fill: one store write per fuller batch


class JetStreamLink:
    def __init__(
        self,
        servers: Sequence[str],
        *,
        consumer: Consumer,
        name: str,
        durable: str = js.INGEST_CONSUMER,
        plan: js.StreamPlan | None = None,
        user: str | None = None,
        password: str | None = None,
        batch: int = 1000,
    ) -> None:
        self.servers = list(servers)
        self.name = name
        self.durable = durable
        self.plan = plan or js.StreamPlan()
        self._consumer = consumer
        self._user, self._password = user, password
        self._batch = batch
        self._nc: Nats | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._pulling = asyncio.Event()
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    async def connect(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        last: Exception | None = None
        for _ in range(max(1, attempts)):
            try:
                self._nc = await js.connect(self.servers, name=self.name, user=self._user,
                                            password=self._password, timeout_s=timeout_s)
                self.plan = await js.ensure_streams(self._nc, self.plan, strict=False)
                break
            except js.JetStreamError as exc:
                last = exc
                await asyncio.sleep(1.0)
        else:
            assert last is not None
            raise last
        self._task = asyncio.create_task(self._pull(), name=f"{self.name}-pull")

    async def subscribed(self) -> None:
        await self._pulling.wait()

    async def _pull(self) -> None:
        assert self._nc is not None
        puller = js.Puller(self._nc, js.IN_STREAM, self.durable)
        await puller.start()
        self._pulling.set()
        try:
            while not self._closing:
                try:
                    got = await puller.pull(self._batch, linger_s=LINGER_S)
                except Exception as exc:  # disconnected: the client reconnects by itself
                    log.warning("%s: pull failed: %s", self.name, exc)
                    await asyncio.sleep(0.5)
                    continue
                own = [m for m in got.messages if js.is_control(m.subject)]
                items = [Inbound(js.topic_of(m.subject), m.data, m)
                         for m in got.messages if not js.is_control(m.subject)]
                if own:  # the alarm workers' clock and canaries: nothing to store
                    await js.ack_all(own)
                if items:
                    try:
                        await asyncio.to_thread(self._consumer, items)
                    except Exception:  # not acknowledged: delivered again
                        log.exception("%s: consumer failed", self.name)
        finally:
            await puller.stop()

    def ack(self, items: Sequence[Inbound]) -> None:
        msgs = [i.token for i in items if isinstance(i.token, Msg)]
        if not msgs or self._loop is None or self._loop.is_closed():
            return
        self._call(js.ack_all(msgs))

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """A NATS message on the topic's subject (NATS's MQTT listener gives it to MQTT
        subscribers; `retain` has no meaning on a NATS subject)."""
        if self._nc is None:
            return
        self._call(self._nc.publish(js.subject_of(topic), payload))

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        assert self._nc is not None
        await self._nc.publish(js.subject_of(topic), payload)
        await self._nc.flush(timeout=max(1, int(timeout_s)))

    def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        nc = self._nc
        if nc is not None and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._call(nc.drain())

    def _call(self, coro: object) -> None:
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coro)  # type: ignore[arg-type]
        else:
            asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
