"""api/hardening.py on a tiny FastAPI app, and on the real API app: headers on every
answer, the body limit, failing guesses slowed (a valid token never refused), CORS only
when configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Body, FastAPI, Header
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError

from hazmon.api.app import create_app
from hazmon.api.errors import Unauthorized, install_error_handlers
from hazmon.api.hardening import (
    CSP,
    DOCS_CSP,
    BodyLimit,
    GuessThrottle,
    HardeningSettings,
    SecurityHeaders,
    harden,
)
from hazmon.api.testing import DrivenDesk
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
LIMIT = 1024


def bearer(role: str) -> dict[str, str]:
    """The demo plant's tokens are "demo-<role>" (hazmon/demo/plant.yaml)."""
    return {"Authorization": f"Bearer demo-{role}"}


class Clock:
    """Monotonic seconds, and a `sleep` that records how long an answer was held
    (advancing the clock only when told to: a sequential client waits, a parallel
    one does not)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.advance = False

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.advance:
            self.now += seconds


def tiny_app(settings: HardeningSettings, clock: Clock) -> tuple[FastAPI, list[int]]:
    app = FastAPI(docs_url=None, redoc_url=None)
    install_error_handlers(app)
    bodies: list[int] = []

    @app.post("/api/v1/echo")
    async def echo(doc: dict[str, Any] = Body(...)) -> dict[str, int]:
        bodies.append(len(doc))
        return {"keys": len(doc)}

    @app.get("/api/v1/secret")
    async def secret(authorization: str | None = Header(None)) -> dict[str, str]:
        if authorization != "Bearer right":
            raise Unauthorized("the bearer token is not known")
        return {"ok": "yes"}

    @app.get("/")
    async def console() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>c</title>")

    @app.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse("<script>inline()</script>")

    @app.get("/own-headers")
    async def own() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Referrer-Policy": "same-origin"})

    harden(app, settings, clock=clock, sleep=clock.sleep)
    return app, bodies


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> HardeningSettings:
    return HardeningSettings(max_body_bytes=LIMIT, auth_free_failures=3,
                             auth_failure_interval_s=60, auth_max_delay_s=120)  # fmt: skip


@pytest.fixture
def tiny(settings: HardeningSettings, clock: Clock) -> tuple[FastAPI, list[int]]:
    return tiny_app(settings, clock)


def http(app: FastAPI, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://hazmon.test")


def assert_hardened(response: httpx.Response, csp: str = CSP) -> None:
    assert response.headers["content-security-policy"] == csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


# -- headers -------------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers(tiny: tuple[FastAPI, list[int]]) -> None:
    app, _ = tiny
    async with http(app) as c:
        answers = [
            await c.get("/"),
            await c.get("/api/v1/secret", headers={"Authorization": "Bearer right"}),
            await c.get("/api/v1/secret"),  # 401
            await c.get("/nowhere"),  # 404
            await c.post("/api/v1/echo", content=b"x" * (LIMIT + 1)),  # 413
            await c.post("/api/v1/echo", json=[1]),  # 422
        ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 413, 422]
    for response in answers:
        assert_hardened(response)
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    assert answers[1].headers["cache-control"] == "no-store"  # token-protected data


async def test_docs_keep_their_inline_script_and_the_app_keeps_its_own_headers(
    tiny: tuple[FastAPI, list[int]],
) -> None:
    app, _ = tiny
    async with http(app) as c:
        docs = await c.get("/docs")
        own = await c.get("/own-headers")
    assert_hardened(docs, DOCS_CSP)
    assert "frame-ancestors 'none'" in DOCS_CSP
    assert own.headers.get_list("referrer-policy") == ["same-origin"]  # not doubled


async def test_streamed_answers_pass_through_unbuffered() -> None:
    """The first chunk of an endless stream reaches the client while the app still runs."""
    first_chunk = asyncio.Event()
    finish = asyncio.Event()

    async def endless(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await finish.wait()
        await send({"type": "http.response.body", "body": b""})

    async def client_send(message: MutableMapping[str, Any]) -> None:
        if message.get("body") == b"data: 1\n\n":
            first_chunk.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    wrapped = SecurityHeaders(BodyLimit(endless))
    scope = {"type": "http", "path": "/api/v1/stream", "headers": [], "method": "GET"}
    task = asyncio.create_task(wrapped(scope, receive, client_send))
    await asyncio.wait_for(first_chunk.wait(), 2)
    finish.set()
    await asyncio.wait_for(task, 2)


# -- body limit ----------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_before_any_route_sees_it(
    tiny: tuple[FastAPI, list[int]],
) -> None:
    app, bodies = tiny
    fits = b'{"a":"' + b"x" * (LIMIT - 8) + b'"}'
    assert len(fits) == LIMIT

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(LIMIT // 100 + 2):
            yield b" " * 100

    async with http(app) as c:
        ok = await c.post(
            "/api/v1/echo", content=fits, headers={"content-type": "application/json"}
        )
        declared = await c.post("/api/v1/echo", content=b"{}" + b" " * LIMIT)
        streamed = await c.post("/api/v1/echo", content=chunks())
        lying = await c.post("/api/v1/echo", content=b"nonsense", headers={"content-length": "x"})
    assert ok.status_code == 200, ok.text
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"] == "request_entity_too_large"
        assert str(LIMIT) in response.json()["detail"]
    assert lying.status_code == 400
    assert bodies == [1]  # only the body that fits reached the route


# -- failing guesses -----------------------------------------------------------------------


async def test_failing_guesses_are_slowed_and_a_valid_token_is_never_refused(
    tiny: tuple[FastAPI, list[int]], clock: Clock
) -> None:
    """3 free failures, then one per 60 s: held up to 120 s, 429 beyond; the right
    token from the same address is answered at once throughout."""
    app, _ = tiny
    right = {"Authorization": "Bearer right"}
    wrong = {"Authorization": "Bearer guess"}
    async with http(app) as attacker, http(app, "10.0.0.2") as neighbour:
        for _ in range(5):  # no token at all: a console not logged in, never counted
            assert (await attacker.get("/api/v1/secret")).status_code == 401
        assert [(await attacker.get("/api/v1/secret", headers=wrong)).status_code
                for _ in range(3)] == [401, 401, 401]  # fmt: skip
        assert clock.slept == []
        held = await attacker.get("/api/v1/secret", headers=wrong)
        assert (held.status_code, clock.slept) == (401, [60])
        assert_hardened(held)
        assert (await attacker.get("/api/v1/secret", headers=right)).status_code == 200
        held = await attacker.get("/api/v1/secret", headers=wrong)  # a parallel guesser
        assert (held.status_code, clock.slept) == (401, [60, 120])
        refused = await attacker.get("/api/v1/secret", headers=wrong)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_requests"
        assert refused.headers["retry-after"] == "180"
        assert_hardened(refused)
        assert clock.slept == [60, 120]  # a refusal holds nothing
        assert (await attacker.get("/api/v1/secret", headers=right)).status_code == 200
        assert (await attacker.get("/")).status_code == 200  # the console still loads
        assert (await neighbour.get("/api/v1/secret", headers=wrong)).status_code == 401
        assert clock.slept == [60, 120]  # the neighbour's first failure is free
        clock.now += 300  # quiet: the free failures come back, one per 60 s
        for _ in range(3):
            assert (await attacker.get("/api/v1/secret", headers=wrong)).status_code == 401
        assert clock.slept == [60, 120]


async def test_a_sequential_guesser_gets_one_guess_per_interval(
    tiny: tuple[FastAPI, list[int]], clock: Clock
) -> None:
    app, _ = tiny
    clock.advance = True  # each held answer is waited for
    wrong = {"Authorization": "Bearer guess"}
    async with http(app) as c:
        start = clock.now
        codes = [(await c.get("/api/v1/secret", headers=wrong)).status_code for _ in range(13)]
    assert codes == [401] * 13
    assert clock.slept == [60] * 10
    assert clock.now - start == 600  # 3 free, then 10 guesses in 10 minutes


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    clock = Clock()
    throttle = GuessThrottle(free_failures=2, interval_s=60, max_delay_s=600,
                             max_clients=1000, clock=clock)  # fmt: skip
    assert throttle.on_failure("attacker") == 0
    for i in range(100_000):  # a flood from many addresses
        throttle.on_failure(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
    assert len(throttle) == 1000
    assert throttle.on_failure("10.1.134.159") == 0  # one it still remembers
    assert throttle.on_failure("10.1.134.159") == 60
    assert throttle.on_failure("attacker") == 0  # forgotten: free again


def test_the_throttle_holds_a_bounded_number_of_answers() -> None:
    clock = Clock()
    throttle = GuessThrottle(free_failures=1, interval_s=1, max_delay_s=100, max_held=2,
                             clock=clock)  # fmt: skip
    assert throttle.on_failure("a") == 0
    assert throttle.on_failure("a") == 1
    throttle.held = 2  # two answers being held now
    assert throttle.on_failure("a") is None
    assert throttle.on_failure("b") == 0  # a first failure is never held


# -- CORS ------------------------------------------------------------------------------------


async def test_no_cors_unless_configured(clock: Clock) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    app, _ = tiny_app(HardeningSettings(), clock)
    async with http(app) as c:
        answer = await c.get("/api/v1/secret", headers={"Origin": "https://evil.example"})
        options = await c.options("/api/v1/echo", headers=preflight)
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in options.headers

    configured = HardeningSettings(cors_origins="https://scada.plant.example, http://10.0.0.5:3000")
    app, _ = tiny_app(configured, clock)
    allowed = {**preflight, "Origin": "https://scada.plant.example"}
    async with http(app) as c:
        ok = await c.options("/api/v1/echo", headers=allowed)
        evil = await c.options("/api/v1/echo", headers=preflight)
    assert ok.headers["access-control-allow-origin"] == "https://scada.plant.example"
    assert "access-control-allow-origin" not in evil.headers


@pytest.mark.parametrize("origins", ["*", "https://a.example/path", "ftp://a.example", "a.example"])
def test_cors_origins_must_be_explicit(origins: str) -> None:
    with pytest.raises(ValidationError):
        HardeningSettings(cors_origins=origins)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAZMON_CORS_ORIGINS", "https://a.example")
    monkeypatch.setenv("HAZMON_MAX_BODY_BYTES", "2048")
    settings = HardeningSettings()
    assert settings.origins == ["https://a.example"]
    assert settings.max_body_bytes == 2048


# -- the real API -------------------------------------------------------------------------


@pytest.fixture
def real_app(clock: Clock) -> Iterator[FastAPI]:
    registry = load_registry(DEMO_PLANT)
    desk = DrivenDesk(registry)
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    app = create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})  # fmt: skip
    harden(app, HardeningSettings(), clock=clock, sleep=clock.sleep)
    yield app


async def test_the_real_api_hardened(real_app: FastAPI, clock: Clock) -> None:
    async with http(real_app) as c:
        console = await c.get("/")
        sites = await c.get("/api/v1/sites", headers=bearer("viewer"))
        alarms = (await c.get("/api/v1/alarms", headers=bearer("viewer"))).json()
        alarm_id = alarms[0]["alarm_id"].replace("/", "%2F").replace("#", "%23")
        huge = await c.post(f"/api/v1/alarms/{alarm_id}/ack", headers=bearer("operator"),
                            json={"note": "x" * 70_000})  # fmt: skip
        fine = await c.post(f"/api/v1/alarms/{alarm_id}/ack", headers=bearer("operator"),
                            json={"note": "checked on site"})  # fmt: skip
        guesses = [(await c.get("/api/v1/sites", headers={"Authorization": f"Bearer g{i}"}))
                   .status_code for i in range(11)]  # fmt: skip
        after = await c.post(f"/api/v1/alarms/{alarm_id}/note", headers=bearer("operator"),
                             json={"note": "still here"})  # fmt: skip
    assert console.status_code == 200 and sites.status_code == 200
    assert (
        console.headers.get_list("content-security-policy")
        and len(console.headers.get_list("content-security-policy")) == 1
    )  # the app's own console policy is kept, not doubled
    assert_hardened(sites)
    assert huge.status_code == 413 and huge.json()["error"] == "request_entity_too_large"
    assert fine.status_code == 200, fine.text
    assert fine.json()["acked_by"] == "zhang.wei"  # the operator token's name
    assert guesses == [401] * 11
    assert clock.slept == [6.0]  # 10 free, the 11th held for 6 s
    assert after.status_code == 200  # the operator's valid token, at once
