"""Warehouse backends: ``resq.connect(url)`` picks one by the URL's scheme.

Backends register under the entry-point group ``resq.backends`` (name = URL scheme) and are
imported only when a URL asks for them, so ``import resq`` never loads a database driver.
resq's own backends (``duckdb``, ``snowflake``) are found without scanning the installed
distributions' entry points (about 10 ms of every command); any other scheme is looked up
there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from resq.errors import UnknownBackendError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

GROUP = "resq.backends"
BUILT_IN = {
    "duckdb": "resq.backends.duckdb:DuckDBBackend",
    "snowflake": "resq.backends.snowflake:SnowflakeBackend",
}
"""resq's own backends, the same as its entry points in pyproject.toml."""


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=GROUP))


def available() -> list[str]:
    """The URL schemes of the installed backends."""
    return sorted({ep.name for ep in _entry_points()} | set(BUILT_IN))


def backend_class(scheme: str) -> type[WarehouseBackend]:
    """The backend class registered for a scheme (imported now, not before)."""
    if scheme in BUILT_IN:
        module, name = BUILT_IN[scheme].split(":")
        built_in: type[WarehouseBackend] = getattr(importlib.import_module(module), name)
        return built_in
    matches = [ep for ep in _entry_points() if ep.name == scheme]
    if not matches:
        installed = ", ".join(available()) or "none"
        hint = " (pip install 'resq[snowflake]')" if scheme == "snowflake" else ""
        raise UnknownBackendError(
            f"no backend for {scheme!r}://{hint}; installed backends: {installed}"
        )
    cls: type[WarehouseBackend] = matches[0].load()
    return cls


def _open(cls: type[WarehouseBackend], url: str, **kwargs: Any) -> WarehouseBackend:
    backend = cls.from_url(url, **kwargs)
    if not isinstance(backend, cls):
        raise TypeError(f"{cls.__name__}.from_url returned {type(backend).__name__}")
    return backend


def connect(url: str = "duckdb://", **kwargs: Any) -> WarehouseBackend:
    """Open a backend from a URL: ``duckdb://`` (in memory), ``duckdb:///path/to.db``,
    ``snowflake://...``. Unknown schemes and malformed URLs list the installed backends.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UnknownBackendError(
            f"not a connection URL: {url!r}; expected scheme://..., for example "
            f"duckdb:///resq.duckdb (installed backends: {', '.join(available())})"
        )
    scheme = url.split("://", 1)[0].lower()
    return _open(backend_class(scheme), url, **kwargs)


__all__ = ["available", "backend_class", "connect"]
