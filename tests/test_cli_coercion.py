"""The command line skips typer's pydantic coercion for values that already have their
parameter's type (resq.cli._runtime._ReadyValues): for every parameter of every command,
and any value a user can type, the result is exactly typer's own (or the same error)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._coercion import build_runtime_param

from resq.cli import _runtime, docgen

PARAMS = [
    (ctx, param)
    for command, ctx in docgen.commands()
    for param in command.get_params(ctx)
    if hasattr(param, "type_descriptor")
]


def test_every_parameter_is_covered() -> None:
    names = {p.name for _, p in PARAMS}
    assert {"db", "org", "json_output", "help", "seed_value", "sector", "critical"} <= names
    assert len(PARAMS) > 40


TYPERS: dict[int, Any] = {}


def outcome(coerce: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = coerce(value, param=param, ctx=ctx)
    except (typer.BadParameter, typer.Exit, Exception) as exc:  # the same kind of refusal
        return ("error", type(exc).__name__)
    return ("value", (type(result), result))


TYPED = st.one_of(
    st.from_regex(r"\A-?[0-9]{1,20}\Z"),
    st.from_regex(r"\A\s*[0-9]+(\.[0-9]*)?\s*\Z"),
    st.sampled_from(["HOSPITAL", "hospital", "PDS", "ngo", "true", "0", "", "1e3", "٣"]),
    st.text(max_size=12),
)


@pytest.mark.parametrize(
    ("ctx", "param"), PARAMS, ids=[f"{c.command_path}:{p.name}" for c, p in PARAMS]
)
@settings(max_examples=15, deadline=None)
@given(typed=TYPED)
def test_ready_values_coerce_as_typer_does(ctx: Any, param: Any, typed: str) -> None:
    ours = _runtime._ReadyValues(param)
    if id(param) not in TYPERS:
        TYPERS[id(param)] = build_runtime_param(param.type_descriptor)
    theirs = TYPERS[id(param)]
    for value in (typed, param.default, None):
        if value is not None and param.multiple and isinstance(value, str):
            value = (value,)
        assert outcome(ours.coerce, value, param, ctx) == outcome(
            theirs.coerce, value, param, ctx
        ), (param.name, value)


def test_the_root_command_installs_it_on_every_parameter() -> None:
    import typer.main

    from resq.cli import app

    root = typer.main.get_command(app)
    _runtime.skip_coercing_ready_values(root)
    ctx = typer.Context(root, info_name="resq")
    assert all(
        isinstance(p._runtime_param, _runtime._ReadyValues)
        for p in root.get_params(ctx)
        if hasattr(p, "type_descriptor")
    )
