"""Warehouse backends: ``resq.connect(url)`` picks one by the URL's scheme.

Backends register under the entry-point group ``resq.backends`` (name = URL scheme) and are
imported only when a URL asks for them, so ``import resq`` never loads a database driver.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from resq.errors import UnknownBackendError

if TYPE_CHECKING:
    from resq.backends.warehouse import WarehouseBackend

GROUP = "resq.backends"


def available() -> list[str]:
    """The URL schemes of the installed backends."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def backend_class(scheme: str) -> type[WarehouseBackend]:
    """The backend class registered for a scheme (imported now, not before)."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == scheme]
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
