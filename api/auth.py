"""Who may call what: bearer tokens from the registry's `auth` section, and the roles.

A token is never stored: the registry holds the sha256 of each one. A presented token
is hashed and compared with *every* registered hash with `hmac.compare_digest`, so the
time taken says nothing about which hash, or how much of one, matched.

The role matrix of docs/contract.md §7 is data (`ROLE_RIGHTS`); each route names the one right
it needs (`Right`), and `require(right)` is the FastAPI dependency that checks it.

Authentication comes before anything about the request is read. FastAPI parses a JSON
body before it solves any dependency (a router-level one included), so a body it cannot
parse would be answered 422 before the token is looked at, to a caller without one.
The /api/v1 routers therefore use `AuthFirstRoute`: it checks the token and the route's
right (the one its `require` names) before FastAPI's handler reads the body, path or
query, and leaves the principal in the request scope for the dependency, which then
only reads it. The answers (401/403) are the errors of hazmon.api.errors, mapped there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hazmon.api.errors import Forbidden, Unauthorized
from hazmon.contract.registry import Token


class Right(StrEnum):
    read = "read"  # sites, sensors, alarms, the live stream
    operate = "operate"  # ack, reset, shelve, unshelve, note
    engineer = "engineer"  # bypass permits, out-of-service and return, the registry
    audit = "audit"  # journal export and verify
    figures = "figures"  # the alarm-system figures (KPI)
    inspect = "inspect"  # hidden dangers: record, order a rectification, accept or reject
    rectify = "rectify"  # hidden dangers: enterprise self-check, rectify, evidence, submit


ROLE_RIGHTS: dict[str, frozenset[Right]] = {
    "viewer": frozenset({Right.read}),
    "operator": frozenset({Right.read, Right.operate, Right.rectify}),
    "engineer": frozenset({Right.read, Right.engineer, Right.figures, Right.rectify}),
    "auditor": frozenset({Right.read, Right.audit, Right.figures}),
    "admin": frozenset(Right),
    # the safety bureau's staff (docs/hidden-dangers.md), usually scoped to some sites
    "inspector": frozenset({Right.read, Right.inspect}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token: its `name` is the `user` of every action it makes.

    `sites` is the token's site scope (None: every site); `key` tells tokens apart
    (the sha256 of the token) where two share a name, for the per-token stream cap.
    """

    name: str
    role: str
    sites: frozenset[str] | None = None
    key: str = ""

    def may(self, right: Right) -> bool:
        return right in ROLE_RIGHTS.get(self.role, frozenset())

    def sees(self, site: str | None) -> bool:
        """Whether the token's scope holds `site` (an unscoped token sees every site)."""
        return self.sites is None or site in self.sites


class Authenticator:
    """Checks bearer tokens against the sha256 hashes of the registry."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self._entries = [(bytes.fromhex(t.sha256), principal_of(t)) for t in tokens]
        self._principals = frozenset(p for _, p in self._entries)

    def knows(self, principal: Principal) -> bool:
        """Whether `principal` still holds a valid token, with the same role and scope."""
        return principal in self._principals

    def authenticate(self, token: str | None) -> Principal:
        """The principal of a token; Unauthorized when it is missing or unknown."""
        if not token:
            raise Unauthorized("an `Authorization: Bearer <token>` header is required")
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Principal | None = None
        for known, principal in self._entries:  # no early exit: constant in the match
            if hmac.compare_digest(digest, known) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("the bearer token is not known")
        return found


def principal_of(token: Token) -> Principal:
    sites = None if token.sites is None else frozenset(token.sites)
    return Principal(token.name, token.role, sites, token.sha256.lower())


_bearer = HTTPBearer(auto_error=False, description="a token of the registry's `auth` section")
PRINCIPAL = "hazmon.principal"  # request scope key: the caller, once authenticated


def authorize(
    request: Request, right: Right, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller's principal, if its role has `right`: Unauthorized (401) without a
    known token, Forbidden (403) without the right. The token is looked up once per
    request; the principal is kept in the request scope."""
    principal = request.scope.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(credentials.credentials if credentials else None)
        request.scope[PRINCIPAL] = principal
    if not principal.may(right):
        raise Forbidden(f"the role {principal.role!r} may not {right.value}")
    return principal


class Require:
    """The dependency `require(right)` returns; its bearer parameter puts the security
    scheme in the OpenAPI document."""

    def __init__(self, right: Right) -> None:
        self.right = right

    async def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        return authorize(request, self.right, credentials)


def require(right: Right) -> Require:
    """A dependency: the caller's principal, if its role has `right` (else 401/403)."""
    return Require(right)


def right_of(dependant: Dependant) -> Right | None:
    """The right a route's dependencies `require`, if any."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, Require):
            return sub.call.right
        found = right_of(sub)
        if found is not None:
            return found
    return None


class AuthFirstRoute(APIRoute):
    """A route that authenticates the caller and checks its right before FastAPI reads,
    parses or validates anything of the request: no token, a bad body gives 401, not
    422 (docs/contract.md §7). Every route built with it must `require` a right."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        right = right_of(self.dependant)
        if right is None:
            raise TypeError(f"{self.path} needs a right: add Depends(require(Right...))")
        handler = super().get_route_handler()

        async def authorized_first(request: Request) -> Response:
            authorize(request, right, await _bearer(request))
            return await handler(request)

        return authorized_first
