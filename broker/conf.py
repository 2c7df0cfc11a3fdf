"""mosquitto.conf for a broker plan (hazmon.broker.acl): the plant and service listeners.

    conf_text(plan, auth_dir=Path("/mosquitto/auth"), data_dir=Path("/mosquitto/data"))
    listener_warnings(plan)      # a plain listener beyond loopback, in words

Each listener has its own password file (`per_listener_settings true`): the plant
listeners take the users of `passwd` (gateways, observer) and bind each client's id
to its user name (`use_username_as_clientid`); the service listener takes the users
of `passwd-services` (hazmon's own services) and no one else.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hazmon.broker.acl import Address, BrokerPlan


def conf_text(plan: BrokerPlan, *, auth_dir: Path, data_dir: Path) -> str:
    """mosquitto.conf: `auth_dir` and `data_dir` are paths as the broker sees them."""
    from hazmon.broker.acl import ACL_NAME, PASSWD_NAME, SERVICE_PASSWD_NAME

    lines = [
        f"# Mosquitto 2 for hazmon, written by `hazmon broker-config` from {plan.source}.",
        "# Regenerate it when gateways are added or removed; don't edit it by hand.",
        "",
        "# Each listener has its own users: gateways on the plant listeners, hazmon's",
        "# services on the service listener (docs/security.md).",
        "per_listener_settings true",
        "",
        "# Keep what is queued across a restart, and enough of it (docs/contract.md §2).",
        "persistence true",
        f"persistence_location {str(data_dir).rstrip('/')}/",
        "autosave_interval 60",
        f"max_queued_messages {plan.max_queued}",
        "# A bigger packet closes the sender's connection; hazmon dead-letters above 1 MiB.",
        f"max_packet_size {plan.max_packet_bytes}",
        "# Send small packets (alarm events, PUBACKs) at once: with Nagle's algorithm a",
        "# packet can wait for the ACK of the previous one (measured: alarm p50 3.5 ms",
        "# with it off, 10 ms on; docs/benchmarks.md).",
        "set_tcp_nodelay true",
        "",
        "log_dest stdout",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    plant = [
        "allow_anonymous false",
        "# a client's id is its user name: nobody can take over another's session",
        "use_username_as_clientid true",
        f"password_file {auth_dir / PASSWD_NAME}",
        f"acl_file {auth_dir / ACL_NAME}",
    ]
    tls = []
    if plan.tls is not None:
        tls = [f"certfile {plan.tls.cert}", f"keyfile {plan.tls.key}",
               f"cafile {plan.tls.ca}", "tls_version tlsv1.2"]  # fmt: skip
    if plan.listen is not None:
        lines += ["", "# The plant network: gateways (and the observer), plain MQTT.",
                  f"listener {plan.listen.port} {plan.listen.host}", *plant]  # fmt: skip
    if plan.tls is not None and plan.tls_listen is not None:
        where = f"listener {plan.tls_listen.port} {plan.tls_listen.host}"
        lines += ["", "# The plant network over TLS: clients check the server against the CA.",
                  where, *plant, *tls]  # fmt: skip
    service = plan.service_listen
    lines += [
        "",
        "# hazmon's services only (ingest, alarms, the demo simulator): their own users,",
        "# several connections each (ingest replicas, the alarm service's publisher).",
        f"listener {service.port} {service.host}",
        "allow_anonymous false",
        f"password_file {auth_dir / SERVICE_PASSWD_NAME}",
        f"acl_file {auth_dir / ACL_NAME}",
    ]
    if not loopback(service):
        lines += tls
    return "\n".join(lines) + "\n"


def loopback(address: Address) -> bool:
    if address.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.host).is_loopback
    except ValueError:
        return False


def listener_warnings(plan: BrokerPlan) -> list[str]:
    """A plain listener beyond loopback sends passwords and readings in clear."""
    found: list[str] = []
    if plan.listen is not None and not loopback(plan.listen):
        fix = ("--listen none (the TLS listener is written)" if plan.tls is not None
               else "--tls-cert/--tls-key/--tls-ca and --listen none")  # fmt: skip
        found.append(f"the plain listener {plan.listen.host}:{plan.listen.port} takes "
                     f"passwords and readings in clear beyond this machine: {fix}")  # fmt: skip
    service = plan.service_listen
    if not loopback(service) and plan.tls is None:
        found.append(f"the service listener {service.host}:{service.port} is plain beyond "
                     "this machine: give --tls-cert/--tls-key/--tls-ca (or keep it on "
                     "loopback, or a network only hazmon's services reach)")  # fmt: skip
    return found
