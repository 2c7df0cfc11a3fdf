"""Notifiers: a webhook against a real local HTTP server that fails the first
attempts, retried with backoff; a failing notifier holds up no other."""

from __future__ import annotations

import asyncio
import socket

import pytest

from hazmon.alarms.core import NotifyRequest
from hazmon.alarms.notifiers import (
    Dispatcher,
    MemoryNotifier,
    Notifier,
    RetryPolicy,
    WebhookNotifier,
)
from tests.alarms.webhook_server import WebhookServer

Outcome = tuple[str, bool, str, bool]


def request(recipient: str, n: int = 1) -> NotifyRequest:
    alarm_id = f"s1/GT-1/high_high#{n}"
    payload = {"alarm_id": alarm_id, "event": "raised", "value": 55.0, "priority": "critical"}
    return NotifyRequest(f"{alarm_id}|r1|s0|{recipient}", recipient, alarm_id,
                         "s1/GT-1/high_high", "s1", 1, payload)


async def run_until(
    notifiers: dict[str, Notifier], requests: list[NotifyRequest], finals: int,
    retry: RetryPolicy,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    done = asyncio.Event()

    async def report(r: NotifyRequest, ok: bool, detail: str, final: bool) -> None:
        outcomes.append((r.recipient, ok, detail, final))
        if sum(1 for o in outcomes if o[3]) >= finals:
            done.set()

    dispatcher = Dispatcher(notifiers, report, retry=retry)
    task = asyncio.create_task(dispatcher.run())
    for r in requests:
        assert dispatcher.submit(r)
    assert not dispatcher.submit(requests[0])  # already pending: not twice
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert dispatcher.pending == set()
    return outcomes


@pytest.mark.integration  # a real HTTP server (WebhookServer) on a local port
def test_a_webhook_is_retried_with_backoff_until_the_server_takes_it() -> None:
    fast = RetryPolicy(first_s=0.05, max_s=0.2, max_attempts=5)
    with WebhookServer(fail_first=2) as server:
        slow_hook = WebhookNotifier(server.url)
        memory = MemoryNotifier()
        outcomes = asyncio.run(run_until(
            {"duty": slow_hook, "log": memory}, [request("duty"), request("log")], 2, fast,
        ))
    hook = [(ok, final) for who, ok, _, final in outcomes if who == "duty"]
    assert hook == [(False, False), (False, False), (True, True)]
    details = [d for who, _, d, _ in outcomes if who == "duty"]
    assert "HTTP 503 (attempt 1 of 5)" in details[0] and "HTTP 200" in details[2]
    # the other notifier was not held up by the failing webhook
    assert outcomes.index(("log", True, "memory: received", True)) < 2
    assert [status for status, _, _ in server.posts] == [503, 503, 200]
    keys = {headers["Idempotency-Key"] for _, headers, _ in server.posts}
    assert keys == {"s1/GT-1/high_high#1|r1|s0|duty"}
    assert server.delivered() == [request("duty").payload]


def test_a_webhook_that_never_answers_gives_up_after_max_attempts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout_s=1.0)
    backoff = RetryPolicy(first_s=0.01, max_s=0.02, max_attempts=3)
    outcomes = asyncio.run(run_until({"duty": hook}, [request("duty")], 1, backoff))
    assert [(ok, final) for _, ok, _, final in outcomes] == [
        (False, False), (False, False), (False, True)
    ]
    assert "ConnectError" in outcomes[0][2]


def test_an_unknown_recipient_is_a_final_failure() -> None:
    outcomes = asyncio.run(run_until({}, [request("ghost")], 1, RetryPolicy()))
    assert outcomes == [("ghost", False, "no notifier named 'ghost'", True)]


def test_retries_wait_exponentially_with_jitter_and_a_ceiling() -> None:
    retry = RetryPolicy(first_s=1.0, max_s=8.0)
    assert [retry.delay_s(n, rng=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert retry.delay_s(1, rng=lambda: 0.0) == 0.5  # half the ceiling fixed
    assert retry.delay_s(4, rng=lambda: 0.5) == 6.0
