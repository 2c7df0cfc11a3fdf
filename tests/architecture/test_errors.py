"""One error tree: every exception class hazmon defines derives from
`hazmon.contract.errors.HazmonError`, drawn once in that module's docstring, and every
class of the tree appears in that drawing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import hazmon
from hazmon.contract import errors
from hazmon.contract.errors import HazmonError


def product_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(hazmon.__path__, "hazmon."):
        if info.name.endswith("__main__"):
            continue  # runs the command line when imported
        if info.name.startswith("hazmon.testing"):
            continue  # the test suite's support, not the product's errors
        names.append(info.name)
    return names


def defined_errors() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in product_modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{name}.{obj.__qualname__}"] = obj
    return found


def test_every_error_hazmon_defines_derives_from_the_root() -> None:
    found = defined_errors()
    assert len(found) >= 15
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, HazmonError))
    assert outside == []


def test_the_root_module_draws_the_whole_tree() -> None:
    drawing = errors.__doc__ or ""
    missing = sorted(cls.__name__ for cls in defined_errors().values()
                     if cls.__name__ not in drawing)
    assert missing == []
