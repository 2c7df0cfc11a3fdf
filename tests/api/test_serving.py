"""api/serving.py: the accept-error log limit, what a registry reload applies, the
HTTP server's options."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI

from hazmon.api.app import create_app
from hazmon.api.serving import (
    ACCEPT_ERROR,
    RateLimited,
    TlsError,
    Web,
    apply_registry,
    uvicorn_config,
)
from hazmon.api.testing import DrivenDesk
from hazmon.contract.registry import Registry, Token
from hazmon.stores.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)


def test_accept_errors_pass_once_an_interval_and_say_how_many_were_held() -> None:
    clock = Clock()
    limit = RateLimited((ACCEPT_ERROR,), interval_s=60, clock=clock)
    first = record(f"{ACCEPT_ERROR}\nsocket: <...>")
    assert limit.filter(first)
    assert not any(limit.filter(record(ACCEPT_ERROR)) for _ in range(300))
    assert limit.filter(record("something else went wrong"))  # other records pass
    clock.now += 60
    later = record(ACCEPT_ERROR)
    assert limit.filter(later)
    assert later.msg.endswith("(300 more like this in the last 60 s)")
    assert limit.held(ACCEPT_ERROR) == 0


def with_tokens(registry: Registry, *names: str) -> Registry:
    tokens = [Token(name=n, role="viewer", sha256=hashlib.sha256(n.encode()).hexdigest())
              for n in names]
    return registry.model_copy(update={"auth": registry.auth.model_copy(update={"tokens": tokens})})


def app_of(registry: Registry) -> FastAPI:
    return create_app(registry=registry, desk=DrivenDesk(registry), store=MemoryStore(),
                      metrics=[], health=lambda: {"broker": True, "store": True})


class Reloadable:
    def __init__(self) -> None:
        self.got: list[Registry] = []

    async def reload_registry(self, registry: Registry) -> None:
        self.got.append(registry)


async def test_a_reload_applies_tokens_at_once_and_sites_only_when_every_service_can(
    registry: Registry,
) -> None:
    before = with_tokens(registry, "old")
    app = app_of(before)
    known = app.state.authenticator
    fewer_sites = with_tokens(registry, "new").model_copy(update={"sites": registry.sites[:1]})

    said = await apply_registry(app, fewer_sites, [Reloadable(), object()])
    assert "next restart" in said
    assert app.state.authenticator is not known
    assert app.state.authenticator.authenticate("new").name == "new"
    assert len(app.state.ctx.registry.sites) == len(registry.sites)  # what the services run

    services = [Reloadable(), Reloadable()]
    said = await apply_registry(app, fewer_sites, services)
    assert said.endswith("sites, sensors and rules too")
    assert [s.got for s in services] == [[fewer_sites], [fewer_sites]]
    assert app.state.ctx.registry.sites == registry.sites[:1]

    said = await apply_registry(app, with_tokens(registry, "other").model_copy(
        update={"sites": registry.sites[:1]}), [object()])
    assert said.endswith("sites and rules unchanged")


def test_proxy_headers_are_read_only_from_named_proxies(tmp_path: Path) -> None:
    app = FastAPI()
    plain = uvicorn_config(app, Web())
    assert plain.proxy_headers is False
    behind = uvicorn_config(app, Web(forwarded_allow_ips="10.0.0.7, 10.0.0.8"))
    assert behind.proxy_headers is True
    assert behind.forwarded_allow_ips == ["10.0.0.7", "10.0.0.8"]
    with pytest.raises(TlsError, match="both"):
        Web(tls_key=tmp_path / "key.pem").check()
    with pytest.raises(TlsError, match="cannot serve HTTPS"):
        Web(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem").check()
