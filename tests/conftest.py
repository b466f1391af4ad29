"""Shared fixtures: one ``backend`` fixture over every registered backend (the ibis shape).

Every backend registered under the ``resq.backends`` entry-point group runs the shared
suite (``tests/test_backend_*.py``). A backend needs a test factory in ``FACTORIES``: a
registered backend without one fails loudly instead of being skipped. A backend that
cannot do something declares it on the test::

    @pytest.mark.notimpl(["snowflake"], reason="...")

which becomes a strict xfail for that backend only (never a skip), so a gap that closes
turns into a failure and is noticed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, settings

import resq
from resq.backends import available
from resq.backends.warehouse import WarehouseBackend

# --- hypothesis ---------------------------------------------------------------------
# "ci" (the default): no per-example deadline (a backend round trip is not a unit of
# work hypothesis can time fairly), failing examples printed so CI logs reproduce them.
# "dev": fewer examples (where a test sets none) for a quick loop: HYPOTHESIS_PROFILE=dev.
settings.register_profile(
    "ci",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# --- backend factories ----------------------------------------------------------------

#: How the suite opens a fresh, empty backend of each kind: ``factory(tmp_path, name,
#: options)`` where ``name`` is unique within the test and ``options`` are URL query
#: options (for example ``{"target_lag": 60}``). A backend package registered under
#: ``resq.backends`` adds its own entry here.
Factory = Callable[[Path, str, dict[str, Any]], WarehouseBackend]


def _duckdb(tmp_path: Path, name: str, options: dict[str, Any]) -> WarehouseBackend:
    url = f"duckdb:///{tmp_path}/{name}.duckdb"
    if options:
        url += "?" + urlencode(options)
    return resq.connect(url)


def _snowflake(tmp_path: Path, name: str, options: dict[str, Any]) -> WarehouseBackend:
    """Tier 2: a database of its own on a fakesnow server (tests/snowflake_peer.py)."""
    import snowflake_peer

    return snowflake_peer.make_backend(tmp_path, name, options)


FACTORIES: dict[str, Factory] = {"duckdb": _duckdb, "snowflake": _snowflake}

BACKENDS = available()

#: Backends that tests may already name in ``notimpl`` before they are installed here.
PLANNED_BACKENDS = frozenset({"snowflake"})


class BackendMaker:
    """Opens fresh backends of one kind for a test and closes them all afterwards."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        if name not in FACTORIES:
            pytest.fail(
                f"backend {name!r} is registered under 'resq.backends' but tests/conftest.py "
                f"has no factory for it; add one to FACTORIES (known: {', '.join(FACTORIES)})"
            )
        self.name = name
        self.tmp_path = tmp_path
        self.opened: list[WarehouseBackend] = []
        self._made: dict[int, tuple[str, dict[str, Any]]] = {}

    def __call__(self, *, init: bool = True, **options: Any) -> WarehouseBackend:
        return self._open(f"db{len(self._made)}", options, init=init)

    def reopen(self, backend: WarehouseBackend) -> WarehouseBackend:
        """Close ``backend`` and connect again to the same database (not initialized)."""
        db, options = self._made[id(backend)]
        self.opened.remove(backend)
        backend.close()
        return self._open(db, options, init=False)

    def _open(self, db: str, options: dict[str, Any], *, init: bool) -> WarehouseBackend:
        backend = FACTORIES[self.name](self.tmp_path, db, options)
        self.opened.append(backend)
        self._made[id(backend)] = (db, dict(options))
        if init:
            backend.init()
        return backend

    def close(self) -> None:
        while self.opened:
            self.opened.pop().close()


@pytest.fixture(params=BACKENDS, scope="session")
def backend_name(request: pytest.FixtureRequest) -> str:
    """The name (URL scheme) of the backend under test; every backend test depends on it."""
    return str(request.param)


@pytest.fixture
def make_backend(backend_name: str, tmp_path: Path) -> Iterator[BackendMaker]:
    """A maker of fresh, initialized backends of the kind under test (``make_backend(
    target_lag=60)`` for URL options, ``init=False`` for an uninitialized one)."""
    maker = BackendMaker(backend_name, tmp_path)
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture(scope="module")
def make_shared_backend(
    backend_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendMaker]:
    """Like ``make_backend``, but its backends live for the whole test module: for
    expensive fixtures that tests only read (or change in ways every later test allows)."""
    maker = BackendMaker(backend_name, tmp_path_factory.mktemp(backend_name))
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture
def backend(make_backend: BackendMaker) -> WarehouseBackend:
    """A fresh, initialized, empty backend; closed after the test."""
    return make_backend()


@pytest.fixture
def seeded(backend: WarehouseBackend) -> WarehouseBackend:
    """``backend`` with the deterministic simulated network (6 organizations in Bangalore
    and Delhi, 3 items each, vendors Blinkit and Dunzo) and its signals loaded."""
    resq.SelfHealingEngine(backend).seed()
    return backend


# --- notimpl: declared gaps become strict xfails --------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = _backend_of(item)
        for marker in item.iter_markers(name="notimpl"):
            backends = marker.args[0] if marker.args else marker.kwargs.get("backends", [])
            if isinstance(backends, str):
                backends = [backends]
            reason = marker.kwargs.get("reason")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: notimpl needs a reason")
            unknown = set(backends) - set(FACTORIES) - set(BACKENDS) - PLANNED_BACKENDS
            if unknown:
                raise pytest.UsageError(
                    f"{item.nodeid}: notimpl names unknown backends {sorted(unknown)}"
                )
            if name is not None and name in backends:
                item.add_marker(
                    pytest.mark.xfail(
                        strict=True, reason=f"{name} does not implement this: {reason}"
                    )
                )


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("backend_name")
    return None if value is None else str(value)
