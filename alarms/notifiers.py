"""Notifiers (docs/alarms.md, "Escalation and notification"): webhook, MQTT and log, plus
an in-memory fake, behind one small interface; and the dispatcher that runs them.

The dispatcher keeps one bounded queue and one worker per recipient, so a failing or
slow notifier never holds up another one, nor the evaluation (which only submits).
A failed webhook attempt is retried later with jittered exponential backoff, without
holding its worker meanwhile. Every attempt's outcome goes to `report` (the service
journals it as `notified` or `notify_failed`); `final` says the request is done.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import orjson

from hazmon.alarms.core.model import NotifyRequest
from hazmon.alarms.errors import AlarmError
from hazmon.bus import backoff

if TYPE_CHECKING:
    from hazmon.contract.registry import Notifier as NotifierSpec

log = logging.getLogger(__name__)

Report = Callable[[NotifyRequest, bool, str, bool], Awaitable[None]]
Publish = Callable[[str, bytes], Awaitable[None]]


class NotifyFailed(AlarmError):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class Notifier(ABC):
    kind = "notifier"
    max_attempts: int | None = None  # None: the dispatcher's

    @abstractmethod
    async def send(self, request: NotifyRequest) -> str:
        """Deliver; return what happened (for the journal) or raise NotifyFailed."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections."""


class WebhookNotifier(Notifier):
    """POST the alarm event JSON; 2xx is delivered. The request id goes along as
    `Idempotency-Key`, so a receiver can drop a repeat after a crash."""

    kind = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, request: NotifyRequest) -> str:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.id,
            "X-Hazmon-Tier": str(request.tier),
        }
        try:
            response = await self._client.post(
                self.url, content=orjson.dumps(request.payload), headers=headers
            )
        except httpx.HTTPError as exc:
            raise NotifyFailed(f"webhook {self.url}: {type(exc).__name__} {exc}") from exc
        if not response.is_success:
            raise NotifyFailed(f"webhook {self.url}: HTTP {response.status_code}")
        return f"webhook {self.url}: HTTP {response.status_code}"

    async def aclose(self) -> None:
        await self._client.aclose()


class MqttNotifier(Notifier):
    """Publish the alarm event on a topic, QoS 1. Not retried here: the MQTT client
    keeps an unacknowledged message and sends it again itself."""

    kind = "mqtt"
    max_attempts = 1

    def __init__(self, topic: str, publish: Publish) -> None:
        self.topic = topic
        self._publish = publish

    async def send(self, request: NotifyRequest) -> str:
        try:
            await self._publish(self.topic, orjson.dumps(request.payload))
        except Exception as exc:
            raise NotifyFailed(f"mqtt {self.topic}: {exc}") from exc
        return f"mqtt {self.topic}: published"


class LogNotifier(Notifier):
    kind = "log"
    max_attempts = 1

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, request: NotifyRequest) -> str:
        p = request.payload
        log.warning(
            "ALARM for %s (tier %d): %s %s %s value=%s state=%s",
            self.name, request.tier, p.get("alarm_id"), p.get("event"), p.get("priority"),
            p.get("value"), p.get("state"),
        )
        return "log: written"


def from_registry(
    specs: Mapping[str, NotifierSpec], publish: Publish, *, webhook_timeout_s: float
) -> dict[str, Notifier]:
    """The registry's notifiers (`notifiers:`): a webhook, an MQTT topic published
    through `publish`, else the log."""
    made: dict[str, Notifier] = {}
    for name, spec in specs.items():
        if spec.webhook:
            made[name] = WebhookNotifier(spec.webhook, timeout_s=webhook_timeout_s)
        elif spec.mqtt:
            made[name] = MqttNotifier(spec.mqtt, publish)
        else:
            made[name] = LogNotifier(name)
    return made


@dataclass
class MemoryNotifier(Notifier):
    """The in-memory fake: records what it got; fails the first `fail_first` sends."""

    fail_first: int = 0
    received: list[NotifyRequest] = field(default_factory=list)
    attempts: int = 0
    kind = "memory"

    async def send(self, request: NotifyRequest) -> str:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise NotifyFailed(f"memory: failing attempt {self.attempts}")
        self.received.append(request)
        return "memory: received"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed delivery is tried again: up to `max_attempts` in all, waiting as
    hazmon.bus.backoff says (from `first_s`, doubling up to `max_s`, jittered)."""

    first_s: float = 1.0
    max_s: float = 300.0
    max_attempts: int = 6

    def delay_s(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Before attempt `attempt + 1`."""
        return backoff.delay_s(attempt, min_s=self.first_s, max_s=self.max_s, rng=rng)


class Dispatcher:
    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        report: Report,
        *,
        retry: RetryPolicy | None = None,
        queue_size: int = 1000,
    ) -> None:
        self.notifiers = dict(notifiers)
        self._report = report
        self.retry = retry or RetryPolicy()
        self._queues: dict[str, asyncio.Queue[tuple[NotifyRequest, int]]] = {
            name: asyncio.Queue(maxsize=queue_size) for name in self.notifiers
        }
        self.pending: set[str] = set()  # request ids queued, sending or waiting to retry

    def submit(self, request: NotifyRequest, attempt: int = 1) -> bool:
        """Queue a request (never blocks); False when it is already pending or the
        queue is full (the outbox keeps it for a later sweep)."""
        if attempt == 1 and request.id in self.pending:
            return False
        queue = self._queues.get(request.recipient)
        if queue is None:
            self.pending.add(request.id)
            asyncio.get_running_loop().create_task(self._unknown(request))
            return True
        try:
            queue.put_nowait((request, attempt))
        except asyncio.QueueFull:
            self.pending.discard(request.id)
            log.warning("notifier %s: queue full, %s left in the outbox", request.recipient,
                        request.id)
            return False
        self.pending.add(request.id)
        return True

    async def _unknown(self, request: NotifyRequest) -> None:
        await self._outcome(request, False, f"no notifier named {request.recipient!r}", True)

    def queue_depth(self) -> int:
        return sum(q.qsize() for q in self._queues.values())

    async def run(self) -> None:
        """Run every recipient's worker until cancelled; then close the notifiers."""
        try:
            async with asyncio.TaskGroup() as group:
                for name, queue in self._queues.items():
                    group.create_task(self._worker(name, queue), name=f"notify-{name}")
                await asyncio.Event().wait()  # until cancelled, with or without workers
        finally:
            for notifier in self.notifiers.values():
                await notifier.aclose()

    async def _worker(self, name: str, queue: asyncio.Queue[tuple[NotifyRequest, int]]) -> None:
        notifier = self.notifiers[name]
        limit = notifier.max_attempts or self.retry.max_attempts
        while True:
            request, attempt = await queue.get()
            try:
                detail, ok = await notifier.send(request), True
            except NotifyFailed as exc:
                detail, ok = exc.detail, False
            except Exception as exc:  # a notifier's bug must not stop the others
                log.exception("notifier %s failed unexpectedly", name)
                detail, ok = f"{type(exc).__name__}: {exc}", False
            final = ok or attempt >= limit
            suffix = "" if ok or limit == 1 else f" (attempt {attempt} of {limit})"
            await self._outcome(request, ok, detail + suffix, final)
            if not final:
                delay_s = self.retry.delay_s(attempt)
                asyncio.get_running_loop().call_later(delay_s, self._retry, request, attempt + 1)

    def _retry(self, request: NotifyRequest, attempt: int) -> None:
        if not self.submit(request, attempt):
            self.pending.discard(request.id)

    async def _outcome(self, request: NotifyRequest, ok: bool, detail: str, final: bool) -> None:
        if final:
            self.pending.discard(request.id)
        try:
            await self._report(request, ok, detail, final)
        except Exception:
            log.exception("could not journal the outcome of %s", request.id)
