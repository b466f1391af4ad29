"""The code that runs inside Snowflake, and what each piece may import.

Every Python object the deploy plan creates (the functions, the procedures) and the
Streamlit in Snowflake app has its handler here, and :data:`OBJECTS` declares, in one
place, its handler and the Snowflake Anaconda packages (the ``PACKAGES`` clause) it runs
with; :data:`APP_PACKAGES` does the same for the app's ``environment.yml``. The import
surface is small by construction: this package's ``__init__`` imports only the standard
library, each handler module imports only what its object declares, and heavy or optional
code (pandas, Snowpark, the engine) is imported inside the function that needs it.

Why a package of its own, directly under ``resq``: importing a handler runs the
``__init__`` of every package above it. Under ``resq.backends.snowflake`` that would load
the Snowflake backend (and sqlglot) for every function; here the only package above is
``resq``, whose ``__init__`` imports nothing. ``resq deploy snowflake --check`` verifies
the declarations: it imports and calls each handler with the built ``resq.zip`` and
nothing but its declared packages importable (``resq.backends.snowflake.checks.closure``).

To add a Python object: write its ``CREATE`` in ``sql/snowflake/*.sql`` with
``IMPORTS = ('@RESQ_CODE/resq.zip')``, put its handler in a module here, and add it to
:data:`OBJECTS` with the same ``HANDLER`` and ``PACKAGES`` and a sample call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APP_PACKAGES",
    "IMPORT_NAMES",
    "OBJECTS",
    "PythonObject",
    "import_names",
    "package_name",
    "pinned",
    "served",
]

# Package specs as the PACKAGES clause takes them: a name, or a name and a version with
# `==` (a trailing `.*` matches a whole major version); no other operator is accepted.
# Why these versions: docs/snowflake.md, "Packages"; the live tier checks that
# INFORMATION_SCHEMA.PACKAGES serves a version matching each.
NUMPY = "numpy==2.*"
PYARROW = "pyarrow"
PANDAS = "pandas==2.*"  # Snowpark's pandas integration does not support pandas 3 yet
SQLGLOT = "sqlglot==30.*"  # the sqlglot resq pins (~=30.22): its SQL files parse with it
TENACITY = "tenacity==9.*"
SNOWPARK = "snowflake-snowpark-python"
HEAL_PACKAGES = (SNOWPARK, NUMPY, PANDAS, PYARROW, SQLGLOT, TENACITY)
"""The engine's: RESQ_HEAL and the app's write procedures."""


@dataclass(frozen=True)
class PythonObject:
    """One Python function or procedure of the deploy plan.

    ``handler`` is the ``HANDLER`` clause (``module.attribute``; ``run`` for a procedure
    whose code is inline, ``AS $$ ... $$``); ``packages`` the ``PACKAGES`` clause, as
    written. ``call`` says how the closure check exercises the handler: ``"batch"`` (a
    vectorized function: one pandas DataFrame of ``args`` rows), ``"rows"`` (a table
    function: ``process(*args)``), ``"session"`` (a procedure: ``handler(session, *args)``
    with a stand-in session), ``"import"`` (import only).
    """

    name: str
    handler: str
    packages: tuple[str, ...]
    call: str = "import"
    args: tuple[Any, ...] = field(default_factory=tuple)


OBJECTS: dict[str, PythonObject] = {
    o.name: o
    for o in (
        PythonObject(
            "GET_WEATHER_DATA",
            "resq.inside.functions.weather_batch",
            (NUMPY, PANDAS, PYARROW),
            call="batch",
            args=(("Bangalore",), ("Delhi",), (None,)),
        ),
        PythonObject(
            "GET_VENDOR_STATUS",
            "resq.inside.functions.vendor_status_batch",
            (NUMPY, PANDAS, PYARROW),
            call="batch",
            args=(("Blinkit",), ("Dunzo",), (None,)),
        ),
        PythonObject(
            "GENERATE_REALISTIC_SIMULATION",
            "resq.inside.series.SimulationSeries",
            (NUMPY, PYARROW),
            call="rows",
            args=("HOSP-1", "OXY-CYL", 3, 7),
        ),
        PythonObject(
            "RESQ_HEAL",
            "resq.inside.heal.heal_procedure",
            HEAL_PACKAGES,
            call="session",
            args=(True, "MANUAL"),
        ),
        *(
            PythonObject(name, f"resq.inside.procedures.{handler}", HEAL_PACKAGES)
            for name, handler in (
                ("RESQ_OVERRIDE_ORDER", "override_order_procedure"),
                ("RESQ_ACK_ALERT", "ack_alert_procedure"),
                ("RESQ_CHAOS", "chaos_procedure"),
                ("RESQ_HEAL_ORG", "heal_org_procedure"),
                ("RESQ_VERIFY_AUDIT", "verify_audit_procedure"),
            )
        ),
        PythonObject(
            "RESQ_DELIVER_NOTIFICATIONS",
            "run",
            (SNOWPARK, PYARROW, NUMPY, SQLGLOT, TENACITY),
        ),
        PythonObject(
            "RESQ_ESCALATE_ALERTS",
            "run",
            (SNOWPARK, PYARROW, NUMPY, SQLGLOT, TENACITY),
        ),
    )
}
"""Every Python object of the deploy plan, by its (upper-case) SQL name."""

APP_PACKAGES: tuple[str, ...] = (
    "streamlit",
    "altair",
    NUMPY,
    PANDAS,
    PYARROW,
    SQLGLOT,
    SNOWPARK,
    TENACITY,  # resq.retrying: an override retries a conflicting concurrent heal
)
"""The Streamlit in Snowflake app's packages (its ``environment.yml``)."""

APP_ENTRY = "resq.dashboard.app"
"""The module the app's ``streamlit_app.py`` runs."""

IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    # Snowpark requires the connector, so it is installed whenever Snowpark is.
    "snowflake-snowpark-python": ("snowflake.snowpark", "snowflake.connector"),
    "pyyaml": ("yaml",),
}
"""Import names of packages whose import name is not their package name."""


def package_name(spec: str) -> str:
    """``"pandas<3"`` -> ``"pandas"``: the name of a package spec, lower case."""
    name = spec.strip()
    for i, ch in enumerate(name):
        if ch in "<>=!~ [;":
            name = name[:i]
            break
    return name.lower()


def import_names(specs: tuple[str, ...] | list[str]) -> set[str]:
    """The module names that the packages of ``specs`` provide."""
    out: set[str] = set()
    for spec in specs:
        name = package_name(spec)
        out.update(IMPORT_NAMES.get(name, (name.replace("-", "_"),)))
    return out


def served(spec: str, versions: list[str] | tuple[str, ...]) -> bool:
    """Whether one of ``versions`` (as ``INFORMATION_SCHEMA.PACKAGES`` lists them for the
    package) matches ``spec``: any, for a bare name; ``==X`` exactly X; ``==X.*`` any
    release of the X series.

    >>> served("pandas==2.*", ["1.5.3", "2.2.3"]), served("pandas==2.*", ["2"])
    (True, True)
    >>> served("sqlglot==30.*", ["25.1.0", "300.1"]), served("pyarrow", [])
    (False, False)
    """
    _, sep, wanted = spec.replace(" ", "").partition("==")
    if not versions:
        return False
    if not sep:
        return True
    if wanted.endswith(".*"):
        series = wanted[:-2]
        return any(v == series or v.startswith(series + ".") for v in versions)
    return wanted in versions


def pinned() -> dict[str, set[str]]:
    """Every package spec of every object and of the app, by package name."""
    out: dict[str, set[str]] = {}
    for spec in (*(p for o in OBJECTS.values() for p in o.packages), *APP_PACKAGES):
        out.setdefault(package_name(spec), set()).add(spec)
    return out
