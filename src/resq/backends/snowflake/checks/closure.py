"""Check ``import-closure``: every Python object of the plan, and the Streamlit app, runs
with nothing but the packages it declares.

For each ``CREATE FUNCTION`` / ``CREATE PROCEDURE ... LANGUAGE PYTHON`` of the plan, two
looks at the code of the built ``resq.zip``, both against the import names of the
object's ``PACKAGES`` (plus the standard library, ``_snowflake`` and resq itself):

- in a subprocess, with the zip first on ``sys.path`` and an import gate that refuses
  anything else resq's code asks for, the handler is imported and called (a batch for a
  vectorized function, a row for a table function, a stand-in session for a procedure;
  ``resq.inside.OBJECTS`` says which), and every resq module the handler can reach is
  imported;
- the import statements of every resq module the handler can reach, also inside functions
  (imports that run only on some path), are read: one outside the packages is a finding
  even when the call above did not take that path. Imports under ``TYPE_CHECKING`` and
  those guarded by ``except ImportError`` do not count.

The app gets the same two looks against its ``environment.yml``. An object whose HANDLER
or PACKAGES differ from its declaration in ``resq.inside.OBJECTS``, or that has none, is a
finding too.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resq.backends.snowflake.checks import Finding, PlanUnderCheck, check

NAME = "import-closure"
APP_OBJECT = "streamlit app (environment.yml)"
PROBE = Path(__file__).with_name("_probe.py")
PROBE_TIMEOUT_S = 120
PROBES_AT_ONCE = 4

_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SECURE\s+)?(FUNCTION|PROCEDURE)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_$.]*)",
    re.IGNORECASE,
)
_PACKAGES = re.compile(r"\bPACKAGES\s*=\s*\(([^)]*)\)", re.IGNORECASE)
_HANDLER = re.compile(r"\bHANDLER\s*=\s*'([^']*)'", re.IGNORECASE)
_PYTHON = re.compile(r"\bLANGUAGE\s+PYTHON\b", re.IGNORECASE)
_INLINE = re.compile(r"\bAS\s+\$\$(.*)\$\$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PlannedObject:
    """A Python function or procedure as the plan would create it."""

    name: str
    kind: str
    handler: str
    packages: tuple[str, ...]
    inline: str | None


def planned_objects(subject: PlanUnderCheck) -> list[PlannedObject]:
    """The Python functions and procedures the plan creates, read from its statements."""
    out = []
    for step in subject.steps:
        for statement in step.statements:
            sql = statement.sql
            head = sql.split("$$", 1)[0]
            match = _CREATE.match(sql)
            if not match or not _PYTHON.search(head):
                continue
            packages = _PACKAGES.search(head)
            handler = _HANDLER.search(head)
            inline = _INLINE.search(sql)
            out.append(
                PlannedObject(
                    name=match.group(2).split(".")[-1].upper(),
                    kind=match.group(1).lower(),
                    handler=handler.group(1) if handler else "",
                    packages=tuple(re.findall(r"'([^']*)'", packages.group(1))) if packages else (),
                    inline=inline.group(1) if inline else None,
                )
            )
    return out


def environment_packages(text: str) -> tuple[str, ...]:
    """The ``dependencies`` of an environment.yml (conda ``name=version`` read as
    ``name==version``)."""
    deps, inside = [], False
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if not line.startswith((" ", "-")):
            inside = stripped.startswith("dependencies:")
            continue
        if inside and stripped.lstrip().startswith("- "):
            spec = stripped.lstrip()[2:].strip().strip("'\"")
            deps.append(re.sub(r"(?<![=<>!~])=(?!=)", "==", spec, count=1))
    return tuple(deps)


# --------------------------------------------------------------------------- static


def zip_sources(zip_path: Path) -> dict[str, str]:
    """Module name -> source, for every Python file of the zip."""
    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if not name.endswith(".py"):
                continue
            module = name[: -len(".py")].replace("/", ".")
            module = module.removesuffix(".__init__")
            out[module] = zf.read(name).decode("utf-8")
    return out


def permitted(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``name`` may be imported: the standard library, ``_snowflake``, resq, or a
    module of (or a namespace above) an allowed import name."""
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in {"_snowflake", "resq", "__future__"}:
        return True
    return any(name == a or name.startswith(a + ".") or a.startswith(name + ".") for a in allowed)


@dataclass(frozen=True)
class Escape:
    module: str
    line: int
    imported: str

    def text(self) -> str:
        return f"{self.imported} (imported by {self.module}, line {self.line})"


class _Imports(ast.NodeVisitor):
    """The imports of one module that can run: not under ``TYPE_CHECKING``, not guarded
    by ``except ImportError``, not in a module ``__getattr__`` (those, and the
    ``TYPE_CHECKING`` ones, are the module's lazy names: followed only when imported)."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, str | None, int]] = []  # (module, name or None, line)
        self.lazy: dict[str, str] = {}  # TYPE_CHECKING names: name -> module

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for inner in node.body:
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    for alias in inner.names:
                        self.lazy[alias.asname or alias.name] = self._absolute(inner)
            for inner in node.orelse:
                self.visit(inner)
            return
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name == "__getattr__" and node.col_offset == 0:
            # A module's lazy attributes: followed when a name is imported from it.
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    for alias in inner.names:
                        self.lazy[alias.asname or alias.name] = self._absolute(inner)
            return
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h.type) for h in node.handlers)
        if not guarded:
            for inner in node.body:
                self.visit(inner)
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node)
        for alias in node.names:
            self.found.append((base, alias.name, node.lineno))

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        return f"{base}.{node.module}" if node.module else base


def _catches_import_error(kind: ast.expr | None) -> bool:
    if kind is None:
        return True
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(
        isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names
    )


class Closure:
    """What resq modules are reachable from some entry points, and every import of theirs
    that leaves the allowed packages."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources
        self._parsed: dict[str, _Imports] = {}

    def imports_of(self, module: str, source: str | None = None) -> _Imports:
        if source is None and module in self._parsed:
            return self._parsed[module]
        text = self.sources[module] if source is None else source
        visitor = _Imports(module, is_package=self._is_package(module))
        visitor.visit(ast.parse(text))
        if source is None:
            self._parsed[module] = visitor
        return visitor

    def _is_package(self, module: str) -> bool:
        prefix = module + "."
        return any(m.startswith(prefix) for m in self.sources)

    def walk(
        self, entries: Iterable[str], allowed: Iterable[str], inline: str | None = None
    ) -> tuple[set[str], list[Escape]]:
        allowed = set(allowed)
        seen: set[str] = set()
        escapes: list[Escape] = []
        queue: list[tuple[str, str | None]] = [(e, None) for e in entries]
        if inline is not None:
            queue.append(("__resq_inline__", inline))
        while queue:
            module, source = queue.pop()
            if source is None:
                if module in seen or module not in self.sources:
                    continue
                seen.add(module)
            visitor = self.imports_of(module, source)
            for target, name, line in visitor.found:
                for dep in self._resolve(target, name):
                    if dep.partition(".")[0] == "resq":
                        queue.extend((p, None) for p in _with_parents(dep))
                    elif not permitted(dep, allowed):
                        escapes.append(Escape(module, line, dep))
        return seen, escapes

    def _resolve(self, target: str, name: str | None) -> Iterator[str]:
        if name is None or target.partition(".")[0] != "resq":
            yield target
            return
        yield target
        candidate = f"{target}.{name}"
        if candidate in self.sources:
            yield candidate
        elif target in self.sources:
            lazy = self.imports_of(target).lazy.get(name)
            if lazy:
                yield lazy


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


# --------------------------------------------------------------------------- dynamic


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the probe in a fresh, isolated interpreter (no PYTHONPATH, no user site)."""
    done = subprocess.run(
        [sys.executable, "-I", str(PROBE), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"the probe failed: {tail}", "blocked": []}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# Modules that run a page or an app when imported: reached by the static look only.
_RUNS_ON_IMPORT = ("resq.dashboard.app", "resq.dashboard.views", "resq.inside.streamlit_app")


def _importable(modules: Iterable[str]) -> list[str]:
    return sorted(m for m in modules if not m.startswith(_RUNS_ON_IMPORT))


# --------------------------------------------------------------------------- the check


def _problem(escapes: list[Escape], result: dict[str, Any]) -> str | None:
    parts = []
    if escapes:
        shown = sorted({e.text() for e in escapes})
        parts.append("imports outside its packages: " + "; ".join(shown))
    if not result.get("ok", False):
        parts.append(f"running it failed: {result.get('error') or 'no reason given'}")
    return " / ".join(parts) if parts else None


def check_objects(
    objects: Iterable[PlannedObject], zip_path: Path, declared: Mapping[str, Any]
) -> list[Finding]:
    from resq.inside import import_names

    closure = Closure(zip_sources(zip_path))
    findings = []
    runs: list[tuple[PlannedObject, list[Escape], dict[str, Any]]] = []
    for obj in objects:
        want = declared.get(obj.name)
        if want is None:
            findings.append(
                Finding(
                    NAME,
                    obj.name,
                    "a Python object not declared in resq.inside.OBJECTS",
                    "declare its HANDLER, PACKAGES and a sample call there",
                )
            )
        elif want.handler != obj.handler or sorted(want.packages) != sorted(obj.packages):
            findings.append(
                Finding(
                    NAME,
                    obj.name,
                    f"the plan says HANDLER {obj.handler!r}, PACKAGES {list(obj.packages)}; "
                    f"resq.inside.OBJECTS says {want.handler!r}, {list(want.packages)}",
                    "make the SQL file and resq.inside.OBJECTS agree",
                )
            )
        allowed = import_names(list(obj.packages))
        entries = [] if obj.inline is not None else [obj.handler.rpartition(".")[0]]
        reached, escapes = closure.walk(entries, allowed, inline=obj.inline)
        spec: dict[str, Any] = {"zip": str(zip_path), "allowed": sorted(allowed)}
        if obj.inline is not None:
            spec.update(inline=obj.inline, handler=obj.handler or "run")
        else:
            call = want.call if want is not None else "import"
            args = list(want.args) if want is not None else []
            spec.update(handler=obj.handler, call=call, args=args)
        runs.append((obj, escapes, {**spec, "modules": _importable(reached)}))
    with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE) as pool:
        results = list(pool.map(probe, [spec for _, _, spec in runs]))
    for (obj, escapes, _), result in zip(runs, results, strict=True):
        problem = _problem(escapes, result)
        if problem:
            findings.append(
                Finding(
                    NAME,
                    obj.name,
                    problem,
                    "import it lazily where it is used, or declare its package in "
                    "PACKAGES (and resq.inside.OBJECTS)",
                )
            )
    return findings


def check_app(environment: str, zip_path: Path, entry: str) -> list[Finding]:
    from resq.inside import import_names

    sources = zip_sources(zip_path)
    closure = Closure(sources)
    allowed = import_names(list(environment_packages(environment)))
    views = [m for m in sources if m.startswith("resq.dashboard.views.")]
    reached, escapes = closure.walk(["resq.inside.streamlit_app", entry, *views], allowed)
    result = probe(
        {"zip": str(zip_path), "allowed": sorted(allowed), "modules": _importable(reached)}
    )
    problem = _problem(escapes, result)
    if not problem:
        return []
    return [
        Finding(
            NAME,
            APP_OBJECT,
            problem,
            "add the package to resq.inside.APP_PACKAGES (environment.yml) or import it lazily",
        )
    ]


_DONE: dict[tuple[Any, ...], list[Finding]] = {}
"""Findings by what they were computed from (the zip's bytes, the objects, the
environment): the same plan over the same code is checked once per process."""


@check(NAME)
def import_closure(subject: PlanUnderCheck) -> list[Finding]:
    from resq import inside
    from resq.backends.snowflake import plan

    objects = planned_objects(subject)
    environment = plan.environment_yml()
    with tempfile.TemporaryDirectory(prefix="resq-closure-") as tmp:
        zip_path = plan.build_code_zip(Path(tmp) / plan.CODE_ZIP)
        key = (
            hashlib.sha256(zip_path.read_bytes()).hexdigest(),
            tuple(objects),
            tuple(sorted((k, v) for k, v in inside.OBJECTS.items())),
            environment,
        )
        if key not in _DONE:
            findings = check_objects(objects, zip_path, inside.OBJECTS)
            findings += check_app(environment, zip_path, inside.APP_ENTRY)
            _DONE[key] = findings
    return list(_DONE[key])
