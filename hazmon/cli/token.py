"""`hazmon token new`: a new API token, printed once, and the registry line to paste.

    hazmon token new --name zhang.wei --role operator --sites jh-chem-01

The token is 256 random bits (`secrets.token_urlsafe(32)`): the registry keeps only
its unsalted sha256, which is safe for a random value this long and would not be for
a word a person chose. hazmon never sees or stores the token again; lose it and make
a new one. Paste the line under `auth: tokens:` and send `hazmon up` SIGHUP (or
restart it).
"""

from __future__ import annotations

import hashlib
import json
import secrets

import typer
from pydantic import ValidationError

TOKEN_BYTES = 32  # 256 bits

token_app = typer.Typer(
    help="API tokens for the registry's `auth` section.", no_args_is_help=True
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def registry_line(name: str, role: str, digest: str, sites: list[str] | None) -> str:
    """The token's entry as one YAML flow mapping (JSON strings are YAML strings)."""
    fields = [f"name: {json.dumps(name, ensure_ascii=False)}", f"role: {role}",
              f'sha256: "{digest}"']
    if sites:
        fields.append(f"sites: [{', '.join(json.dumps(s) for s in sites)}]")
    return "- {" + ", ".join(fields) + "}"


@token_app.command("new")
def new(
    name: str = typer.Option(..., "--name", help="who holds it: the `user` of their actions"),
    role: str = typer.Option(..., "--role", help="viewer, operator, engineer, auditor or admin"),
    sites: list[str] = typer.Option(
        [], "--sites", help="site ids it may see and act on (repeat, or comma-separate); "
        "default: every site",
    ),
) -> None:
    """Make a token: print it once, and the line for the registry's `auth.tokens`."""
    from hazmon.contract.registry import Token

    scope = [s.strip() for each in sites for s in each.split(",") if s.strip()] or None
    token = new_token()
    digest = hashlib.sha256(token.encode()).hexdigest()
    try:
        Token.model_validate({"name": name, "role": role, "sha256": digest, "sites": scope})
    except ValidationError as exc:
        for error in exc.errors():
            where = "--" + str(error["loc"][0])
            typer.echo(f"hazmon token new: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    typer.echo("token (shown this once; hazmon keeps only its sha256):")
    typer.echo(f"  {token}")
    typer.echo("registry line, under `auth: tokens:` (then SIGHUP `hazmon up`, or restart):")
    typer.echo(f"    {registry_line(name, role, digest, scope)}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
