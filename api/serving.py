"""How hazmon's HTTP server runs: TLS, the proxies it trusts, its log, a reload.

    web = Web(tls_cert=..., tls_key=..., forwarded_allow_ips="10.0.0.7")
    web.check()                         # at start: a bad certificate or key fails fast
    config = uvicorn_config(app, web)   # then uvicorn.Server(config).serve(sockets=[...])
    limit_accept_errors()               # once per process
    await apply_registry(app, fresh, services)   # on SIGHUP: tokens at once, see there

Proxies: uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 unless told otherwise,
so any local process could name any client address (and so dodge, or aim, the
slowing of failed guesses and the per-address stream cap). Here no address is
trusted unless `forwarded_allow_ips` names it; with none, proxy headers are not read
at all.

Connections: a TCP peer may hold at most `HAZMON_CONNECTIONS_PER_ADDRESS` (128)
connections at once; more are closed as soon as they are accepted. uvicorn keeps a
connection that never sends a request open without a time limit, so without this
one address could hold every descriptor of the process with idle connections.
asyncio accepts up to the listen backlog of waiting connections in one turn of the
loop before any of them is closed, so the backlog is kept at `ACCEPTS_PER_TURN` (100,
asyncio's own default; uvicorn's is 2048): a flood that queued while the process was
busy costs at most that many descriptors at once, not one per waiting connection.

Accept errors: when the process runs out of file descriptors, asyncio logs
"socket.accept() out of system resource" with a traceback at every retry of every
listening socket; under an attack that was hundreds of MB of log a minute. The
filter lets one such record through per `interval_s` and says how many it held back.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hazmon.contract.errors import HazmonError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from hazmon.contract.registry import Registry

ACCEPT_ERROR = "socket.accept() out of system resource"
ACCEPTS_PER_TURN = 100  # the listen backlog, and so the accepts in one turn of the loop


class TlsError(HazmonError):
    """The HTTPS certificate or key cannot be used."""


@dataclass(frozen=True, slots=True)
class Web:
    """The HTTP server's own options (the CLI's --tls-cert, --tls-key,
    --forwarded-allow-ips)."""

    tls_cert: Path | None = None
    tls_key: Path | None = None
    forwarded_allow_ips: str = ""  # comma-separated addresses; empty: trust none

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def trusted_proxies(self) -> list[str]:
        return [a.strip() for a in self.forwarded_allow_ips.split(",") if a.strip()]

    def check(self) -> None:
        """TlsError unless both or neither of cert and key are given and they load."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise TlsError("give both --tls-cert and --tls-key, or neither")
        if self.tls_cert is None or self.tls_key is None:
            return
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                self.tls_cert, self.tls_key
            )
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"cannot serve HTTPS with {self.tls_cert} and {self.tls_key}: {exc}"
            ) from exc


def uvicorn_config(app: FastAPI, web: Web) -> uvicorn.Config:
    """The server's configuration; the per-address connection cap is the one `harden`
    left on the app (HAZMON_CONNECTIONS_PER_ADDRESS), else 128."""
    import uvicorn

    trusted = web.trusted_proxies
    connections_per_address = int(getattr(app.state, "connections_per_address", 128))
    return uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", ws="none",
        timeout_graceful_shutdown=5, backlog=ACCEPTS_PER_TURN,
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or [],
        ssl_certfile=web.tls_cert, ssl_keyfile=web.tls_key,
        http=capped_protocol(connections_per_address, exempt=frozenset(trusted)),
    )


def capped_protocol(per_address: int, *, exempt: frozenset[str] = frozenset()
                    ) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, closing at once a connection from a TCP peer that
    already has `per_address` open (idle ones included: uvicorn gives a connection
    that never sends a request no time limit). The trusted proxies in `exempt` are not
    capped: every client behind one shares its address."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    base: type[Any] = import_from_string(HTTP_PROTOCOLS["auto"])
    open_by_peer: Counter[str] = Counter()

    class Capped(base):  # type: ignore[misc]
        refused_connections = 0
        _peer: str | None = None
        _refused = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            if address and address not in exempt:
                if open_by_peer[address] >= per_address:
                    Capped.refused_connections += 1
                    self._refused = True
                    transport.close()
                    return
                open_by_peer[address] += 1
                self._peer = address
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return  # closed in connection_made: nothing was set up
            if self._peer is not None:
                open_by_peer[self._peer] -= 1
                if open_by_peer[self._peer] <= 0:
                    del open_by_peer[self._peer]
                self._peer = None
            super().connection_lost(exc)

    return Capped


class RateLimited(logging.Filter):
    """Lets through one record per `interval_s` of those whose message starts with
    one of `prefixes`; the next one let through tells how many were held back."""

    def __init__(
        self, prefixes: tuple[str, ...], *, interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval_s = interval_s
        self.clock = clock
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        prefix = next((p for p in self.prefixes if message.startswith(p)), None)
        if prefix is None:
            return True
        now = self.clock()
        if now < self._next.get(prefix, float("-inf")):
            self._held[prefix] = self._held.get(prefix, 0) + 1
            return False
        self._next[prefix] = now + self.interval_s
        held = self._held.pop(prefix, 0)
        if held:
            record.msg = f"{message}\n({held} more like this in the last {self.interval_s:g} s)"
        return True

    def held(self, prefix: str) -> int:
        return self._held.get(prefix, 0)


def limit_accept_errors(interval_s: float = 60.0) -> RateLimited:
    """Install (once) the filter on asyncio's logger; the filter in force."""
    logger = logging.getLogger("asyncio")
    for existing in logger.filters:
        if isinstance(existing, RateLimited) and ACCEPT_ERROR in existing.prefixes:
            return existing
    limiter = RateLimited((ACCEPT_ERROR,), interval_s=interval_s)
    logger.addFilter(limiter)
    return limiter


async def apply_registry(app: FastAPI, fresh: Registry, services: Sequence[object]) -> str:
    """Serve `fresh` (a registry re-read on SIGHUP); what was reloaded, for the log.

    Its tokens always take effect at once: a new token is valid, a removed one gets
    401, a changed role or scope applies to the next request, and open streams of a
    removed or changed token end. Its sites, sensors and rules take effect only when
    every service can take them while running: a service that can offers
    `async reload_registry(registry)`, and the API then serves the new sites too.
    Otherwise the sites and rules in force stay (the API keeps showing what the
    services evaluate) until the next restart, and the log says so.
    """
    from hazmon.api.app import use_registry

    ctx = app.state.ctx
    current: Registry = ctx.registry
    tokens = f"{len(fresh.auth.tokens)} tokens"
    beyond_tokens = current.model_copy(update={"auth": fresh.auth}) != fresh
    if not beyond_tokens:
        use_registry(app, fresh)
        return f"{tokens}; sites and rules unchanged"
    hooks = [getattr(s, "reload_registry", None) for s in services]
    if all(callable(h) for h in hooks):
        for hook in hooks:
            assert callable(hook)
            await hook(fresh)
        use_registry(app, fresh)
        return f"{tokens}; sites, sensors and rules too"
    use_registry(app, current.model_copy(update={"auth": fresh.auth}))
    return (f"{tokens}; the sites, sensors or rules changed too: they take effect at the "
            "next restart")
