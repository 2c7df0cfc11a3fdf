"""The root of hazmon's error tree, and the whole tree drawn once.

Every error hazmon raises on purpose derives from `HazmonError`
(tests/architecture/test_errors.py checks every class the product defines, and that each
is drawn here). Each package keeps its own errors; the edges map them: the HTTP layer
to status codes in one place (hazmon.api.errors), the command line to exit statuses.

    HazmonError
    ├── ConfigError                 a registry, gateway or settings file is wrong (every
    │                               problem, with file, line and field path)
    ├── hazmon.contract.modbus.RegisterCodecError   a register value that cannot be
    │                               encoded (also a ValueError)
    ├── hazmon.bus.mqtt.MqttError   the broker cannot be reached or refuses us
    ├── hazmon.stores.base.StoreError
    │   ├── StoreUnavailable        the store cannot answer now (retry)
    │   │   └── StoreUnauthorized   it refuses our credentials
    │   ├── StoreRejected           it refused the data itself
    │   └── hazmon.stores.spool.SpoolError    the disk spool cannot take more
    │       └── SpoolFull
    ├── hazmon.alarms.core.errors.AlarmError  (re-exported by hazmon.alarms.errors)
    │   ├── UnknownAlarm            no such occurrence or sensor
    │   ├── IllegalTransition       an operator input the ISA-18.2 table forbids
    │   ├── LimitExceeded           over a configured maximum, or a reason missing
    │   ├── hazmon.alarms.replay.run.BadRange      a replay range empty, reversed or too long
    │   ├── hazmon.alarms.replay.whatif.UnknownSite   a replay's site in neither registry
    │   ├── hazmon.alarms.notifiers.NotifyFailed   one delivery attempt failed
    │   ├── hazmon.alarms.dangers.model.UnknownDanger        no such hidden danger
    │   ├── hazmon.alarms.dangers.model.IllegalDangerAction  not in the loop's table
    │   └── hazmon.alarms.dangers.model.BadEvidence          evidence refused
    │       ├── EvidenceTooLarge    a file over the limit
    │       └── EvidenceType        not a JPEG, PNG or PDF by its first bytes
    ├── hazmon.alarms.dangers.ledger.BadPeriod  a ledger's quarter or period malformed
    ├── hazmon.alarms.journal.anchoring.JournalBehind   the journal falls short of an anchor
    ├── hazmon.alarms.changelog.BadRecord       a partition's changelog record of another
    │                                           version (also a ValueError)
    ├── hazmon.bus.jetstream.JetStreamError     a JetStream request failed, or a stream
    │   │                                       hazmon cannot use
    │   └── Fenced                  another worker owns the partition now
    ├── hazmon.ingest.service.IngestError       ingest cannot start or go on
    ├── hazmon.feeds.calendar.BadMonth          a report month malformed or not begun
    ├── hazmon.api.errors.ApiError  raised by the HTTP layer itself
    │   ├── Unauthorized, Forbidden, NotFound, BadRequest
    │   ├── hazmon.api.routes_dangers.DangersUnavailable   no hidden dangers here
    │   └── hazmon.api.streamgate.TooManyStreams, StreamsFull
    ├── hazmon.api.hardening.BodyTooLarge       413 (also starlette's HTTPException,
    │                               so FastAPI lets it through a body read)
    ├── hazmon.api.serving.TlsError             the HTTPS certificate or key is unusable
    ├── hazmon.broker.errors.BrokerError        the embedded broker cannot start
    ├── hazmon.broker.acl.BrokerConfigError     broker-config cannot write the files
    ├── hazmon.broker.passwd.PasswdError        mosquitto_passwd failed
    ├── hazmon.dashboards.push.PushError        Grafana refused the dashboards
    ├── hazmon.gateway.fieldbus.DeviceUnreachable   a field device did not answer
    ├── hazmon.simulators.scenarios.UnknownScenario (also a ValueError)
    └── hazmon.cli.up.HttpPortError             the HTTP port cannot be opened
"""

from __future__ import annotations

from dataclasses import dataclass


class HazmonError(Exception):
    """Base of every error hazmon raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration file."""

    file: str
    line: int
    path: str
    expected: str

    def __str__(self) -> str:
        """`file:line: path: expected ...`; a problem of the whole file (line 0) has no line."""
        where = f"{self.path}: " if self.path else ""
        at = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{at}: {where}expected {self.expected}"


class ConfigError(HazmonError):
    """A configuration file has one or more problems; all of them are in `problems`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
