"""The `hazmon` command (docs/contract.md §8).

Each module of this package adds its commands through `register(app)`; the modules are
found by name, so a part of the product brings its commands without editing this file.
Heavy imports happen inside the commands, so `hazmon --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import typer
from typer.core import TyperOption

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


def _flags_take_no_value() -> None:
    """typer's help shows a flag (`--load`, `--help`) as taking a `<bool>` value; it takes
    none. Flags show no type; every other option keeps typer's."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()


def _register_all() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}").register(app)


_register_all()


def main() -> None:
    app()
