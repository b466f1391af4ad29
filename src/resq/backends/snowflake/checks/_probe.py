"""Run one handler the way Snowflake would, with only its declared imports available.

Run as a script in a fresh interpreter (``python -I _probe.py SPEC``): SPEC is JSON with
``zip`` (the built resq.zip, put first on ``sys.path``), ``allowed`` (the import names of
the object's packages), and what to run: ``handler`` and ``call``/``args``
(see ``resq.inside.PythonObject``), or ``inline`` (a procedure's ``AS $$...$$`` body).
A meta-path gate raises ImportError for any module that resq's
code (or the handler's) imports outside the standard library, ``_snowflake`` and
``allowed``; a declared package's own imports are its dependencies and pass. The run
fails when the refusal reaches the handler (an import a library tries and does without,
from compiled code, is only listed). ``modules`` (import each) runs after the handler.
Prints one JSON line: ``{"ok": bool, "error": str, "blocked": [...]}``. Standard library
only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import sys
from typing import Any

OURS_PREFIXES = ("resq", "__main__", "__resq_inline__")


class Gate(importlib.abc.MetaPathFinder):
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.blocked: list[str] = []

    def _permitted(self, name: str) -> bool:
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in {"_snowflake", "resq"}:
            return True
        for a in self.allowed:
            if name == a or name.startswith(a + ".") or a.startswith(name + "."):
                return True
        return False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if self._permitted(name):
            return None
        importer = _importer()
        if importer is not None and not importer.startswith(OURS_PREFIXES):
            return None  # a declared package importing its own dependency
        self.blocked.append(f"{name} (imported by {importer})")
        raise ImportError(f"{name} is not among the declared packages (imported by {importer})")


def _importer() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        filename = frame.f_code.co_filename
        if not (filename.startswith("<frozen") or name.startswith("importlib")):
            return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return None


class StandInSession:
    """Enough of a Snowpark session for a procedure to run to its first decision: every
    query answers no rows."""

    def table(self, name: str) -> StandInSession:
        return self

    def filter(self, *args: Any) -> StandInSession:
        return self

    def limit(self, n: int) -> StandInSession:
        return self

    def count(self) -> int:
        return 0

    def sql(self, query: str, params: Any = None) -> StandInSession:
        return self

    def collect(self) -> list[Any]:
        return []

    def to_arrow(self) -> Any:
        return None


def _resolve(handler: str) -> Any:
    module, _, attr = handler.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, spec["zip"])
    gate = Gate(set(spec.get("allowed", ())))
    sys.meta_path.insert(0, gate)
    try:
        import resq

        if not str(resq.__file__).startswith(spec["zip"]):
            return {"ok": False, "error": f"resq came from {resq.__file__}", "blocked": []}
        if "inline" in spec:
            namespace: dict[str, Any] = {"__name__": "__resq_inline__"}
            exec(compile(spec["inline"], "<inline handler>", "exec"), namespace)
            namespace[spec.get("handler") or "run"]
        elif "handler" in spec:
            handler = _resolve(spec["handler"])
            call, args = spec.get("call", "import"), spec.get("args", ())
            if call == "batch":
                import pandas as pd

                handler(pd.DataFrame([list(row) for row in args]))
            elif call == "rows":
                list(handler().process(*args))
            elif call == "session":
                handler(StandInSession(), *args)
        for module in spec.get("modules", ()):
            importlib.import_module(module)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "blocked": gate.blocked}
    return {"ok": True, "error": "", "blocked": gate.blocked}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
