"""The `hazmon` command (CONTRACT §8).

Each module of this package adds its commands through `register(app)`; the modules are
found by name, so a part of the product brings its commands without editing this file.
Heavy imports happen inside the commands, so `hazmon --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="hazmon",
    help="Telemetry and alarms for major hazard sources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Telemetry and alarms for major hazard sources."""


def _register_all() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}").register(app)


_register_all()


def main() -> None:
    app()
