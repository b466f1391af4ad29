"""resq: ResQ OS, a self-healing supply chain with pluggable warehouse backends.

`import resq` is cheap: backends, the engine and the simulation load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["SelfHealingEngine", "__version__", "connect", "core", "replay", "simulation"]

if TYPE_CHECKING:
    from resq import core, replay, simulation
    from resq.backends import connect
    from resq.engine import SelfHealingEngine


def __getattr__(name: str) -> Any:
    if name == "connect":
        from resq.backends import connect

        return connect
    if name == "SelfHealingEngine":
        from resq.engine import SelfHealingEngine

        return SelfHealingEngine
    if name in {"core", "replay", "simulation"}:
        import importlib

        return importlib.import_module(f"resq.{name}")
    raise AttributeError(f"module 'resq' has no attribute {name!r}")
