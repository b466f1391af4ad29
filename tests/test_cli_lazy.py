"""The command line builds only the command it runs (resq.cli.build_app): that command is
the same as in the full application, and the command a command line names is found
exactly as the root group finds it when it moves global options."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.main import get_command

import resq.cli as cli
from resq.cli import reserved
from resq.cli._runtime import hoist_global_options

NAMES = [c[0] for c in cli.COMMANDS] + list(reserved.RESERVED)


def _shape(command: Any) -> Any:
    """Everything a user meets of a command: options, arguments, help and subcommands."""
    params = [
        (
            p.name,
            tuple(p.opts),
            tuple(p.secondary_opts),
            p.required,
            repr(p.default),
            getattr(p, "help", None),
            p.envvar,
        )
        for p in command.params
    ]
    subcommands = {}
    if hasattr(command, "commands"):  # a group (typer's own click)
        subcommands = {n: _shape(c) for n, c in command.commands.items()}
    return (command.name, command.help, command.short_help, params, subcommands)


@pytest.mark.parametrize("name", NAMES)
def test_a_command_built_alone_is_the_command_of_the_full_application(name: str) -> None:
    full: Any = get_command(cli.app)
    alone: Any = get_command(cli.build_app(name))
    assert list(alone.commands) == [name]
    assert _shape(alone.commands[name]) == _shape(full.commands[name])
    assert [p.opts for p in alone.params] == [p.opts for p in full.params]


def test_the_full_application_has_every_command() -> None:
    full: Any = get_command(cli.app)
    assert sorted(full.commands) == sorted(NAMES)


_GLOBAL = st.one_of(
    st.sampled_from(["--json", "--debug"]).map(lambda t: [t]),
    st.tuples(st.sampled_from(["--db", "--org"]), st.sampled_from([*NAMES, "x", "-q"])).map(list),
    st.sampled_from(["--db=duckdb://", "--org=HOSP-1"]).map(lambda t: [t]),
)
_TAIL = st.lists(st.sampled_from([*NAMES, "--limit", "5", "--json", "--", "PO-1"]), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(_GLOBAL, max_size=3),
    command=st.sampled_from([*NAMES, "hael", None]),
    tail=_TAIL,
)
def test_the_command_named_is_the_one_the_root_group_finds(
    before: list[list[str]], command: str | None, tail: list[str]
) -> None:
    args = [t for option in before for t in option] + ([command] if command else []) + tail
    found = cli.command_named(args)
    hoisted = hoist_global_options(args, NAMES)
    if found is None:
        # nothing narrowed: the full application parses it (unknown names, no command)
        return
    # the root group starts the command at the same token, so the narrowed application
    # moves the same options and parses the same command line
    assert hoist_global_options(args, [found]) == hoisted
    assert found in args


def test_the_console_script_runs_a_command_through_the_narrowed_application(
    tmp_path: Any,
) -> None:
    db = f"duckdb:///{tmp_path / 'n.duckdb'}"
    code = (
        f"import sys; import resq.cli as c; sys.argv = ['resq', '--db', {db!r}, 'init']; c.main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code + "\n"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    probe = (
        "import sys; import resq.cli as c\n"
        f"sys.argv = ['resq', '--db', {db!r}, 'status', '--json']\n"
        "try:\n    c.main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('MODULES', sorted(m for m in sys.modules if m.startswith('resq.cli.')), "
        "file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip().startswith("{"), done.stderr
    modules = done.stderr.rsplit("MODULES", 1)[1]
    assert "resq.cli.stock" in modules
    for other in ("resq.cli.replay", "resq.cli.chaos", "resq.cli.audit", "resq.cli.heal"):
        assert other not in modules
