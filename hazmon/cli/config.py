"""`hazmon check-config FILE`."""

from __future__ import annotations

from pathlib import Path

import typer

from hazmon.contract.config import load_registry
from hazmon.contract.errors import ConfigError


def check_config(file: Path = typer.Argument(..., help="the site registry (YAML)")) -> None:
    """Validate a site registry: exit 0 when good, 2 with every problem listed."""
    try:
        registry = load_registry(file)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {file}", err=True)
        raise typer.Exit(2) from None
    sensors = registry.sensors()
    gateways = sum(len(s.gateways) for s in registry.sites)
    typer.echo(
        f"{file}: ok ({len(registry.sites)} sites, {gateways} gateways, {len(sensors)} sensors)"
    )


def register(app: typer.Typer) -> None:
    app.command("check-config")(check_config)
