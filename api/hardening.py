"""Hardening of the HTTP API: security headers, a request size limit, failing guesses
of tokens slowed per address, and CORS only when configured.

    from hazmon.api.hardening import HardeningSettings, harden
    harden(app, HardeningSettings())    # once, in main, before the server starts

Plain ASGI middlewares, so streamed answers (the event stream, journal exports) pass
through unbuffered. Outermost first, as `harden` installs them:

    SecurityHeaders   every answer: CSP (no inline script, frame-ancestors 'none'),
                      nosniff, no referrer, DENY framing; `Cache-Control: no-store` on
                      /api/; HSTS when the request came over HTTPS
    CORS              only with HAZMON_CORS_ORIGINS (an explicit list; never `*`)
    SlowGuesses       after N bad tokens from one client address, its further bad
                      tokens are answered late (one per interval) or 429; a valid
                      token is never delayed or refused
    BodyLimit         a body over the limit (Content-Length, or counted as it streams)
                      gets 413 before any route sees it

Error answers are those of docs/contract.md §7: JSON `{"error", "detail"}`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hazmon.api.streamgate import StreamCaps
from hazmon.contract.errors import HazmonError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
# Swagger UI (/docs) runs an inline script and, without the `swagger_ui_bundle` package,
# loads its assets from a CDN: it keeps every rule of CSP but those two. It shows only
# the public OpenAPI document; nothing in it comes from users.
DOCS_CSP = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
API_PREFIX = "/api/"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# a hidden danger's evidence file (a photo, a PDF) is the one larger body the API takes;
# the route itself holds it to the registry's `hidden_dangers.evidence_max_bytes`
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
UPLOAD_PATH = re.compile(r"^/api/v1/dangers/HD-[A-Za-z0-9_.-]{1,80}/evidence/files$")


class HardeningSettings(BaseSettings):
    """HAZMON_CORS_ORIGINS (comma-separated origins), HAZMON_MAX_BODY_BYTES,
    HAZMON_AUTH_FREE_FAILURES, HAZMON_AUTH_FAILURE_INTERVAL_S, HAZMON_AUTH_MAX_DELAY_S
    (GuessThrottle), HAZMON_STREAMS_PER_TOKEN, HAZMON_STREAMS_PER_ADDRESS,
    HAZMON_STREAMS_TOTAL (hazmon.api.streamgate), HAZMON_CONNECTIONS_PER_ADDRESS (the HTTP
    server's, hazmon.api.serving)."""

    model_config = SettingsConfigDict(env_prefix="HAZMON_", frozen=True, extra="ignore")

    cors_origins: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    auth_free_failures: int = Field(default=10, ge=1)
    auth_failure_interval_s: float = Field(default=6.0, gt=0)
    auth_max_delay_s: float = Field(default=30.0, ge=0)
    streams_per_token: int = Field(default=10, ge=1)
    streams_per_address: int = Field(default=20, ge=1)
    streams_total: int = Field(default=200, ge=1)
    connections_per_address: int = Field(default=128, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, text: str) -> str:
        for origin in _split(text):
            parts = urlsplit(origin)
            if (
                origin == "*"
                or parts.scheme not in ("http", "https")
                or not parts.hostname
                or (parts.path or parts.query or parts.fragment or parts.username)
            ):
                raise ValueError(f"origins like https://host[:port], not {origin!r}")
        return text

    @property
    def origins(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def stream_caps(self) -> StreamCaps:
        return StreamCaps(
            per_token=self.streams_per_token,
            per_address=self.streams_per_address,
            total=self.streams_total,
        )


def _split(text: str) -> list[str]:
    return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]


def harden(
    app: FastAPI,
    settings: HardeningSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> GuessThrottle:
    """Install every middleware of this module on `app`; the throttle, for metrics.
    (The stream caps are the app's: `create_app(stream_caps=settings.stream_caps)`.)"""
    throttle = GuessThrottle(
        free_failures=settings.auth_free_failures,
        interval_s=settings.auth_failure_interval_s,
        max_delay_s=settings.auth_max_delay_s,
        clock=clock,
        sleep=sleep,
    )
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(SlowGuesses, throttle=throttle)
    cors = cors_middleware(settings)
    if cors is not None:
        app.add_middleware(cors.cls, *cors.args, **cors.kwargs)
    app.add_middleware(SecurityHeaders)
    app.state.auth_throttle = throttle
    app.state.connections_per_address = settings.connections_per_address
    return throttle


def cors_middleware(settings: HardeningSettings) -> Middleware | None:
    """CORS for the configured origins only (reads and the operator actions, bearer
    tokens, no cookies); None, and so no CORS at all, when none are configured."""
    if not settings.origins:
        return None
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
        max_age=600,
    )


def error_body(code: str, detail: str) -> bytes:
    return orjson.dumps({"error": code, "detail": detail})


async def send_error(
    send: Send, status: int, code: str, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = error_body(code, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- security headers ---------------------------------------------------------------------


class SecurityHeaders:
    """Adds the headers to every HTTP answer, keeping any the app set itself."""

    def __init__(self, app: ASGIApp, *, csp: str = CSP, docs_csp: str = DOCS_CSP) -> None:
        self.app = app
        self.common = (
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        )
        self.csp = csp.encode()
        self.docs_csp = docs_csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = [*self.common]
        extra.append(
            (b"content-security-policy", self.docs_csp if path in DOCS_PATHS else self.csp)
        )
        if path.startswith(API_PREFIX):
            extra.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- request size ---------------------------------------------------------------------------


class BodyTooLarge(HTTPException, HazmonError):
    """Raised from `receive` when a streamed body passes the limit: FastAPI re-raises
    HTTP exceptions met while reading a body (any other error there becomes a 400), and
    `BodyLimit` answers it with a JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


class BodyLimit:
    """413 for a body over `max_body_bytes`: at once when Content-Length says so, else
    as soon as the streamed body passes it (chunked uploads, a lying Content-Length)."""

    CODE = "request_entity_too_large"

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.upload_limit = max_upload_bytes  # PUT of a hidden danger's evidence file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if scope.get("method") == "PUT" and UPLOAD_PATH.match(scope.get("path", "")):
            limit = self.upload_limit
        detail = f"the request body is over the limit of {limit} bytes"
        declared = _content_length(scope)
        if declared is None or declared > limit:
            if declared is None:
                detail = "Content-Length is not a number"
                await send_error(send, 400, "bad_request", detail, [(b"connection", b"close")])
            else:
                await send_error(send, 413, self.CODE, detail, [(b"connection", b"close")])
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await send_error(send, 413, self.CODE, detail, [(b"connection", b"close")])


def _content_length(scope: Scope) -> int | None:
    """The declared length (0 when absent); None when it is not a plain number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return 0


# -- failed authentication --------------------------------------------------------------------


@dataclass(slots=True)
class _Client:
    tat: float = 0.0  # theoretical arrival time of the next failure (GCRA)


class GuessThrottle:
    """Slows failing guesses per client address; never refuses a valid token.

    A generic cell rate algorithm over *failures only*: an address may fail
    `free_failures` times in a burst, then once every `interval_s`. A failure beyond
    that has its 401 held until its turn (at most `max_delay_s`); one whose turn is
    further away is answered 429 with Retry-After at once. A valid token is answered
    at once whatever its address did before: a shared control-room PC, a NAT or a
    proxy never locks its operators out.

    At most `max_clients` addresses are remembered (the least recently seen is
    forgotten first) and at most `max_held` answers are held at once, so a flood from
    many addresses grows neither memory nor open sockets without bound. `clock`
    (monotonic seconds) and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        *,
        free_failures: int = 10,
        interval_s: float = 6.0,
        max_delay_s: float = 30.0,
        max_clients: int = 10_000,
        max_held: int = 256,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.burst_s = max(0, free_failures - 1) * interval_s
        self.max_delay_s = max_delay_s
        self.max_clients = max_clients
        self.max_held = max_held
        self.clock = clock
        self.sleep = sleep
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self.held = 0  # answers being held now
        self.slowed = 0  # failures answered late
        self.refused = 0  # failures answered 429

    def on_failure(self, address: str) -> float | None:
        """A bad token from `address`: seconds to hold its 401 (0: answer now), or None
        to answer 429 now (its turn is beyond `max_delay_s`, or too many are held)."""
        now = self.clock()
        client = self._clients.pop(address, None) or _Client(now)
        self._clients[address] = client  # most recently seen last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        tat = max(client.tat, now)
        delay = max(0.0, tat - now - self.burst_s)
        if delay > 0 and (delay > self.max_delay_s or self.held >= self.max_held):
            self.refused += 1
            return None
        client.tat = tat + self.interval_s
        if delay > 0:
            self.slowed += 1
        return delay

    def retry_after_s(self, address: str) -> float:
        """Seconds until `address` may fail again without being held."""
        client = self._clients.get(address)
        if client is None:
            return 0.0
        return max(0.0, client.tat - self.clock() - self.burst_s)

    def __len__(self) -> int:
        return len(self._clients)


def client_address(scope: Scope) -> str:
    """The peer address. Behind a reverse proxy, name it in `--forwarded-allow-ips`
    (uvicorn then puts the client's address from X-Forwarded-For here); no address is
    trusted by default, so a forwarded header from anyone else is ignored."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class SlowGuesses:
    """Holds the 401 answers to requests that presented a bearer token, per client
    address, as `GuessThrottle` says; answers 429 instead when it says so.

    A request without any token (a console not logged in yet) is not counted: it
    guesses nothing. Nothing happens before the app has answered, so a valid token
    is never delayed or refused.
    """

    def __init__(self, app: ASGIApp, *, throttle: GuessThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        presented = any(n.lower() == b"authorization" for n, _ in scope.get("headers", []))
        if not presented:
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        refused = False

        async def holding_send(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the body of the 401 replaced by the 429
            if message["type"] == "http.response.start" and message["status"] == 401:
                delay = self.throttle.on_failure(address)
                if delay is None:
                    refused = True
                    await send_slow_down(send, self.throttle.retry_after_s(address))
                    return
                if delay > 0:
                    await self._hold(delay)
            await send(message)

        await self.app(scope, receive, holding_send)

    async def _hold(self, delay_s: float) -> None:
        self.throttle.held += 1
        try:
            await self.throttle.sleep(delay_s)
        finally:
            self.throttle.held -= 1


async def send_slow_down(send: Send, retry_after_s: float) -> None:
    seconds = max(1, math.ceil(retry_after_s))
    detail = f"too many failed authentications from this address: try again in {seconds} s"
    await send_error(
        send, 429, "too_many_requests", detail,
        [(b"retry-after", str(seconds).encode()), (b"www-authenticate", b"Bearer")],
    )


__all__ = [
    "CSP",
    "DEFAULT_MAX_BODY_BYTES",
    "DOCS_CSP",
    "BodyLimit",
    "BodyTooLarge",
    "GuessThrottle",
    "HardeningSettings",
    "SecurityHeaders",
    "SlowGuesses",
    "client_address",
    "cors_middleware",
    "harden",
]
