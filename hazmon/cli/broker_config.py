"""`hazmon broker-config --config FILE --out DIR`: Mosquitto users, ACLs and TLS for a
registry (hazmon.broker.acl has the rules)."""

from __future__ import annotations

from pathlib import Path

import typer


def broker_config(
    config: Path = typer.Option(..., "--config", help="the site registry (YAML)"),
    out: Path = typer.Option(..., "--out", help="folder for mosquitto.conf, passwd and acl"),
    listen: str = typer.Option(
        "0.0.0.0:1883", "--listen", help="plain MQTT listener HOST:PORT ('none': no plain one)"
    ),
    tls_listen: str = typer.Option("0.0.0.0:8883", "--tls-listen", help="TLS listener HOST:PORT"),
    service_listen: str = typer.Option(
        "127.0.0.1:1884", "--service-listen",
        help="listener HOST:PORT for hazmon's services only (ingest, alarms, simulator)",
    ),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="server certificate (PEM)"),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="its private key (PEM)"),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="the CA clients trust (PEM)"),
    secrets_out: Path | None = typer.Option(
        None, "--secrets-out",
        help="a folder (0700): each new password in a file named after its user (0600), "
             "instead of printing them",
    ),
    owner: str | None = typer.Option(
        None, "--owner", help="the broker's user or uid (default: mosquitto when root)"
    ),
    auth_dir: Path | None = typer.Option(
        None, "--auth-dir", help="where the broker finds passwd and acl (default: --out)"
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="the broker's persistence folder (default: --out/data)"
    ),
    rotate: list[str] = typer.Option(
        [], "--rotate", help="give this user a new password (repeatable; 'all' for everyone)"
    ),
    simulator: bool = typer.Option(False, "--simulator", help="add hazmon-simulator (demo)"),
    observer: bool = typer.Option(False, "--observer", help="add read-only hazmon-observer"),
    max_packet_kib: int = typer.Option(2048, "--max-packet-kib", help="0 for no limit"),
    max_queued: int = typer.Option(
        100_000, "--max-queued",
        help="messages the broker keeps per client (at least 100,000; size it for the "
             "longest burst to ride out, docs/benchmarks.md)",
    ),
) -> None:
    """Write mosquitto.conf, passwd, passwd-services and acl for a registry: one user per
    gateway (its client id is its user name), service users for ingest and alarms on a
    listener of their own, no anonymous access, a TLS listener when certificates are given.

    Passwords of new users are printed once (or written to --secrets-out); users already
    in DIR/passwd keep theirs unless rotated.
    """
    from hazmon.broker.acl import (
        Address,
        BrokerConfigError,
        TlsFiles,
        plan_broker,
        write_broker_config,
    )
    from hazmon.broker.passwd import PasswdError, write_secrets
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import ConfigError

    try:
        registry = load_registry(config)
        tls_given = [p for p in (tls_cert, tls_key, tls_ca) if p is not None]
        if tls_given and len(tls_given) != 3:
            raise BrokerConfigError(["--tls-cert, --tls-key and --tls-ca together, or none"])
        tls = TlsFiles(tls_cert, tls_key, tls_ca) if tls_cert and tls_key and tls_ca else None
        plan = plan_broker(
            registry,
            listen=None if listen == "none" else Address.parse(listen, default_port=1883),
            tls_listen=Address.parse(tls_listen, default_port=8883),
            tls=tls,
            simulator=simulator,
            observer=observer,
            max_packet_bytes=max_packet_kib * 1024,
            source=str(config),
            max_queued=max_queued,
            service_listen=Address.parse(service_listen, default_port=1884),
        )
        written = write_broker_config(
            plan, out, owner=owner, auth_dir=auth_dir, data_dir=data_dir, rotate=rotate
        )
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {config}", err=True)
        raise typer.Exit(2) from None
    except BrokerConfigError as exc:
        for reason in exc.reasons:
            typer.echo(f"broker-config: expected {reason}", err=True)
        raise typer.Exit(2) from None
    except PasswdError as exc:
        typer.echo(f"broker-config: {exc}", err=True)
        raise typer.Exit(1) from None

    who = f", readable by {written.owner.name}" if written.owner else ""
    typer.echo(f"wrote {written.conf}, {written.passwd}, {written.service_passwd} and "
               f"{written.acl}{who}", err=True)  # fmt: skip
    typer.echo(f"{len(plan.users)} users; kept {len(written.passwords.kept)} existing "
               f"password(s)", err=True)  # fmt: skip
    if written.passwords.removed:
        typer.echo(f"removed users: {', '.join(written.passwords.removed)}", err=True)
    for warning in written.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not written.new_secrets:
        return
    if secrets_out is not None:
        try:
            write_secrets(secrets_out, written.new_secrets)
        except PasswdError as exc:
            typer.echo(f"broker-config: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{len(written.new_secrets)} new password(s) in {secrets_out}/USER (0600), "
                   "each readable as HAZMON_MQTT_PASSWORD_FILE: hand them out, then delete "
                   "them", err=True)  # fmt: skip
        return
    typer.echo("new passwords, shown this once (not stored anywhere in clear):", err=True)
    for user, password in written.new_secrets.items():
        typer.echo(f"{user}\t{password}")


def register(app: typer.Typer) -> None:
    app.command("broker-config")(broker_config)
