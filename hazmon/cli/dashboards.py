"""`hazmon dashboards build` / `hazmon dashboards push --grafana URL`.

`build` draws the Grafana dashboards from the registry (the bundled demo plant unless
`--config` names a plant's own) into the provisioning folder that the compose stack
mounts; `--check` writes nothing and fails when the folder is out of date. `push`
uploads them to an existing Grafana; its token comes from `GRAFANA_TOKEN` or
`--token-file`, never from a command-line value (docs/contract.md §8).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from hazmon.contract.errors import ConfigError

DEMO_REGISTRY = Path(__file__).resolve().parent.parent / "demo" / "plant.yaml"
TOKEN_VARIABLE = "GRAFANA_TOKEN"

dashboards_app = typer.Typer(
    help="Grafana dashboards as code: build the provisioning folder, push to a Grafana.",
    no_args_is_help=True,
)

CONFIG_OPTION = typer.Option(
    None, "--config", help="the site registry (YAML); default: the bundled demo plant"
)


def _registry_files(config: Path | None) -> dict[str, str]:
    from hazmon.contract.config import load_registry
    from hazmon.dashboards.provisioning import render

    try:
        registry = load_registry(config or DEMO_REGISTRY)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    return render(registry)


@dashboards_app.command("build")
def build(
    config: Path | None = CONFIG_OPTION,
    out: Path | None = typer.Option(
        None, "--out", help="the provisioning folder; default: dashboards/provisioning"
    ),
    check: bool = typer.Option(
        False, "--check", help="write nothing; exit 1 if the folder differs from the code"
    ),
) -> None:
    """Regenerate the dashboards, data source and provider files."""
    from hazmon.dashboards.provisioning import PACKAGE_FOLDER, stale, write

    folder = out or PACKAGE_FOLDER
    files = _registry_files(config)
    if check:
        differing = stale(folder, files)
        for relative in differing:
            typer.echo(f"out of date: {folder / relative}", err=True)
        if differing:
            typer.echo("run `hazmon dashboards build` and commit the result", err=True)
            raise typer.Exit(1)
        typer.echo(f"{folder}: up to date ({len(files)} files)")
        return
    changed = write(folder, files)
    for path in changed:
        typer.echo(f"wrote {path}")
    typer.echo(f"{folder}: {len(changed)} of {len(files)} files changed")


@dashboards_app.command("push")
def push(
    grafana: str = typer.Option(..., "--grafana", help="Grafana's base URL, http(s)://host:port"),
    token_file: Path | None = typer.Option(
        None, "--token-file", help=f"a file holding the token; default: ${TOKEN_VARIABLE}"
    ),
    config: Path | None = CONFIG_OPTION,
    folder_uid: str = typer.Option("hazmon", "--folder-uid", help="the folder's uid"),
    folder_title: str = typer.Option("hazmon", "--folder-title", help="the folder's title"),
) -> None:
    """Upload the dashboards into a folder of an existing Grafana, idempotently."""
    from hazmon.dashboards import push as pushing

    token = _token(token_file)
    documents = pushing.as_documents(_registry_files(config))
    try:
        api = pushing.connect(grafana, token)
        results = pushing.push(api, documents, folder_uid=folder_uid, folder_title=folder_title)
    except pushing.PushError as exc:
        typer.echo(f"push failed at {exc.what}: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    for result in results:
        typer.echo(f"{result.outcome:9} {result.uid}  {result.title}")


def _token(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            typer.echo(f"cannot read {token_file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
    else:
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        typer.echo(
            f"no Grafana token: set {TOKEN_VARIABLE} or give --token-file "
            "(a service account token with the Editor role)",
            err=True,
        )
        raise typer.Exit(2)
    return token


def register(app: typer.Typer) -> None:
    app.add_typer(dashboards_app, name="dashboards")
