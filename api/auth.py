"""Who may call what: bearer tokens from the registry's `auth` section, and the roles.

A token is never stored: the registry holds the sha256 of each one. A presented token
is hashed and compared with *every* registered hash with `hmac.compare_digest`, so the
time taken says nothing about which hash, or how much of one, matched.

The role matrix of CONTRACT §7 is data (`ROLE_RIGHTS`); each route names the one right
it needs (`Right`), and `require(right)` is the FastAPI dependency that checks it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from hazmon.registry import Token


class Right(StrEnum):
    read = "read"  # sites, sensors, alarms, the live stream
    operate = "operate"  # ack, reset, shelve, unshelve, note
    engineer = "engineer"  # bypass permits, out-of-service and return, the registry
    audit = "audit"  # journal export and verify
    figures = "figures"  # the alarm-system figures (KPI)


ROLE_RIGHTS: dict[str, frozenset[Right]] = {
    "viewer": frozenset({Right.read}),
    "operator": frozenset({Right.read, Right.operate}),
    "engineer": frozenset({Right.read, Right.engineer, Right.figures}),
    "auditor": frozenset({Right.read, Right.audit, Right.figures}),
    "admin": frozenset(Right),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token: its `name` is the `user` of every action it makes."""

    name: str
    role: str

    def may(self, right: Right) -> bool:
        return right in ROLE_RIGHTS.get(self.role, frozenset())


class Authenticator:
    """Checks bearer tokens against the sha256 hashes of the registry."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self._entries = [(bytes.fromhex(t.sha256), Principal(t.name, t.role)) for t in tokens]

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


_bearer = HTTPBearer(auto_error=False, description="a token of the registry's `auth` section")


def require(right: Right) -> Callable[..., Principal]:
    """A dependency: the caller's principal, if its role has `right` (else 401/403)."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(credentials.credentials if credentials else None)
        if not principal.may(right):
            raise Forbidden(f"the role {principal.role!r} may not {right.value}")
        return principal

    return dependency
