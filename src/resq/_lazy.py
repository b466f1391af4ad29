"""A module attribute that is imported on first use, so a heavy import (sqlglot) is paid
only by the code paths that need it."""

from __future__ import annotations

import importlib
from typing import Any


class LazyAttribute:
    """Stands for ``from <module> import <name>`` until an attribute of it is first read."""

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name
        self._target: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        if self._target is None:
            self._target = getattr(importlib.import_module(self._module), self._name)
        return getattr(self._target, attribute)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


class LazyModule:
    """Stands for ``import <module>`` until one of its names is first read; then it holds
    the module's names itself, so later look-ups cost what a module attribute costs.

    ``pyarrow.compute`` is the case: importing it builds a Python wrapper for each of its
    several hundred kernels (about 70 ms), and a read command such as ``resq status`` calls
    none of them."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        module = importlib.import_module(self._module)
        vars(self).update(vars(module))
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy {self._module}>"
