"""Hardening of the HTTP API: security headers, a request size limit, a lock-out after
repeated failed authentication, and CORS only when configured.

    from api.hardening import HardeningSettings, harden
    harden(app, HardeningSettings())    # once, in main, before the server starts

Plain ASGI middlewares, so streamed answers (the event stream, journal exports) pass
through unbuffered. Outermost first, as `harden` installs them:

    SecurityHeaders   every answer: CSP (no inline script, frame-ancestors 'none'),
                      nosniff, no referrer, DENY framing; `Cache-Control: no-store` on
                      /api/; HSTS when the request came over HTTPS
    CORS              only with HAZMON_CORS_ORIGINS (an explicit list; never `*`)
    AuthLockout       a client address that presented N bad tokens within the window
                      gets 429 with Retry-After on /api/ for the lock-out period
    BodyLimit         a body over the limit (Content-Length, or counted as it streams)
                      gets 413 before any route sees it

Error answers are those of CONTRACT §7: JSON `{"error", "detail"}`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class HardeningSettings(BaseSettings):
    """HAZMON_CORS_ORIGINS (comma-separated origins), HAZMON_MAX_BODY_BYTES,
    HAZMON_AUTH_MAX_FAILURES, HAZMON_AUTH_WINDOW_S, HAZMON_AUTH_LOCKOUT_S."""

    model_config = SettingsConfigDict(env_prefix="HAZMON_", frozen=True, extra="ignore")

    cors_origins: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    auth_max_failures: int = 10
    auth_window_s: float = 60.0
    auth_lockout_s: float = 300.0

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


def _split(text: str) -> list[str]:
    return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]


def harden(
    app: FastAPI, settings: HardeningSettings, *, clock: Callable[[], float] = time.monotonic
) -> AuthThrottle:
    """Install every middleware of this module on `app`; the throttle, for metrics."""
    throttle = AuthThrottle(
        max_failures=settings.auth_max_failures,
        window_s=settings.auth_window_s,
        lockout_s=settings.auth_lockout_s,
        clock=clock,
    )
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuthLockout, throttle=throttle)
    cors = cors_middleware(settings)
    if cors is not None:
        app.add_middleware(cors.cls, *cors.args, **cors.kwargs)
    app.add_middleware(SecurityHeaders)
    app.state.auth_throttle = throttle
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


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit: FastAPI re-raises
    HTTP exceptions met while reading a body, and the app maps it to a JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the limit of {limit} bytes")


class BodyLimit:
    """413 for a body over `max_body_bytes`: at once when Content-Length says so, else
    as soon as the streamed body passes it (chunked uploads, a lying Content-Length)."""

    CODE = "request_entity_too_large"

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is over the limit of {self.limit} bytes"
        declared = _content_length(scope)
        if declared is None or declared > self.limit:
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
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
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
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class AuthThrottle:
    """Failed authentications per client address, and the lock-out they lead to.

    `max_failures` bad tokens within `window_s` lock the address out for `lockout_s`.
    At most `max_clients` addresses are remembered (the least recently seen is
    forgotten first), so a flood from many addresses cannot grow memory without bound.
    `clock` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 60.0,
        lockout_s: float = 300.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max(1, max_failures)
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self.lockouts = 0  # how many times an address was locked out

    def check_locked(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None if it is not locked out."""
        client = self._clients.get(address)
        if client is None:
            return None
        left = client.locked_until - self.clock()
        return left if left > 0 else None

    def record_failure(self, address: str) -> float | None:
        """Count a bad token from `address`; the lock-out in seconds if this locks it."""
        now = self.clock()
        client = self._clients.pop(address, None) or _Client()
        self._clients[address] = client  # most recently seen last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        failures = client.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) < self.max_failures:
            return None
        failures.clear()
        client.locked_until = now + self.lockout_s
        self.lockouts += 1
        return self.lockout_s

    def __len__(self) -> int:
        return len(self._clients)


def client_address(scope: Scope) -> str:
    """The peer address (behind a reverse proxy, run uvicorn with proxy headers so
    that this is the real client's, or every client shares the proxy's lock-out)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AuthLockout:
    """Counts 401 answers to requests that presented a bearer token, per client
    address, and answers 429 (Retry-After) on /api/ while the address is locked out.

    A request without any token (a console not logged in yet) is not counted: it
    guesses nothing. A good token does not forgive earlier failures (else a guesser
    holding one viewer token could reset the count between guesses), and while locked
    out even a right token is refused, so the answer never tells that a guess was right.
    """

    def __init__(self, app: ASGIApp, *, throttle: AuthThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        left = self.throttle.check_locked(address)
        if left is not None:
            await send_locked(send, left)
            return
        presented = any(n.lower() == b"authorization" for n, _ in scope.get("headers", []))
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watching_send)
        if status == 401 and presented:
            self.throttle.record_failure(address)


async def send_locked(send: Send, retry_after_s: float) -> None:
    seconds = max(1, math.ceil(retry_after_s))
    detail = f"too many failed authentications from this address: try again in {seconds} s"
    await send_error(
        send, 429, "too_many_requests", detail, [(b"retry-after", str(seconds).encode())]
    )


class LockedOut(HTTPException):
    """For an auth dependency that checks the throttle itself (see docs/security.md)."""

    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            429,
            f"too many failed authentications from this address: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


__all__ = [
    "CSP",
    "DEFAULT_MAX_BODY_BYTES",
    "DOCS_CSP",
    "AuthLockout",
    "AuthThrottle",
    "BodyLimit",
    "BodyTooLarge",
    "HardeningSettings",
    "LockedOut",
    "SecurityHeaders",
    "client_address",
    "cors_middleware",
    "harden",
]
