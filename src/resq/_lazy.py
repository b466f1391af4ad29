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
