"""Every error the HTTP API answers, mapped to a status code in this one place.

Errors are JSON `{"error": "<code>", "detail": "<sentence>"}` (docs/contract.md §7). Logic
raises the errors of its own package; this module decides what they mean over HTTP:

    HazmonError
    ├── ApiError                      raised by the HTTP layer itself
    │   ├── Unauthorized              401 missing or unknown token
    │   ├── Forbidden                 403 the role lacks the right
    │   ├── NotFound                  404 no such site or sensor (or not in the scope)
    │   ├── TooManyStreams            429 live streams of a token/address (streamgate)
    │   ├── StreamsFull               503 live streams in total (streamgate)
    │   └── BadRequest                400 a query that cannot be answered
    ├── hazmon.alarms.errors.AlarmError
    │   ├── hazmon.alarms.dangers.model  hidden dangers: UnknownDanger 404,
    │   │   IllegalDangerAction 409, EvidenceTooLarge 413, EvidenceType 415,
    │   │   BadEvidence 400
    │   ├── UnknownAlarm              404
    │   ├── IllegalTransition         409 nothing changed
    │   └── LimitExceeded             400
    ├── hazmon.feeds.calendar.BadMonth       400 a report month malformed or not begun
    ├── hazmon.stores.base.StoreError        503 (StoreUnavailable too)
    ├── hazmon.bus.jetstream.JetStreamError  503 the cluster (or a partition's owner)
    │                                 did not answer: a takeover may be in progress
    ├── hazmon.alarms.dangers.ledger.BadPeriod  400 a quarter or period malformed
    ├── hazmon.api.routes_dangers.DangersUnavailable  503 no hidden dangers on this desk
    └── ConfigError                   400
    RequestValidationError            422 a bad body or query
    starlette HTTPException           its own status (404 route, 405 method, ...)
    anything else                     500 (and logged)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from hazmon.alarms.dangers.ledger import BadPeriod
from hazmon.alarms.dangers.model import (
    BadEvidence,
    EvidenceTooLarge,
    EvidenceType,
    UnknownDanger,
)
from hazmon.alarms.errors import AlarmError, IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.bus.jetstream import JetStreamError
from hazmon.contract.errors import ConfigError, HazmonError
from hazmon.feeds.calendar import BadMonth
from hazmon.stores.base import StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(HazmonError):
    status = 400
    code = "bad_request"
    headers: ClassVar[dict[str, str]] = {}  # sent with the answer (Retry-After, ...)

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    detail: str


# (error class, status, code), most specific first.
ERROR_MAP: Sequence[tuple[type[Exception], int, str]] = (
    (UnknownDanger, 404, "unknown_hidden_danger"),
    (EvidenceTooLarge, 413, "evidence_too_large"),
    (EvidenceType, 415, "unsupported_evidence_type"),
    (BadEvidence, 400, "bad_evidence"),
    (BadPeriod, 400, "bad_period"),
    (UnknownAlarm, 404, "unknown_alarm"),
    (IllegalTransition, 409, "illegal_transition"),
    (LimitExceeded, 400, "limit_exceeded"),
    (AlarmError, 400, "alarm_error"),
    (BadMonth, 400, "bad_month"),
    (StoreUnavailable, 503, "store_unavailable"),
    (StoreError, 503, "store_error"),
    (JetStreamError, 503, "cluster_unavailable"),
    (ConfigError, 400, "config_error"),
)


def status_and_code(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    for cls, status, code in ERROR_MAP:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, for its OpenAPI description."""
    return {
        s: {"model": ErrorBody, "description": HTTPStatus(s).phrase} for s in sorted(statuses)
    }


def _validation_sentence(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


async def _on_hazmon_error(_request: Request, exc: Exception) -> JSONResponse:
    status, code = status_and_code(exc)
    if status >= 500:
        log.warning("answering %d %s: %s", status, code, exc)
    headers = exc.headers if isinstance(exc, ApiError) else None
    return error_response(status, code, str(getattr(exc, "detail", None) or exc), headers)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", _validation_sentence(exc))


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, detail, dict(exc.headers or {}))


async def _on_anything(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error in the HTTP API", exc_info=exc)
    return error_response(500, "internal", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HazmonError, _on_hazmon_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(Exception, _on_anything)
