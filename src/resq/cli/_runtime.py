"""What every command shares: the global options, the backend, errors and exit codes.

Only the standard library and typer are imported here, so ``resq --help`` stays fast; the
backend, the engine and Rich load inside the command that needs them.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from resq.cli import _text

if TYPE_CHECKING:
    from rich.console import Console

    from resq.backends.warehouse import WarehouseBackend
    from resq.engine import SelfHealingEngine

DEFAULT_DB = "duckdb:///resq.duckdb"

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # validate FAIL, audit --verify tampering, health RED, warehouse failure
EXIT_USAGE = 2  # bad input or usage


ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="RESQ_ACTOR",
        help="Who is acting, for the audit log. Default: the OS user.",
        show_default=False,
    ),
]


class UsageProblem(Exception):
    """A request the CLI refuses before asking the library (exit 2)."""


@dataclass
class State:
    """The global options of one invocation, and the backend it opened (if any)."""

    db: str = DEFAULT_DB
    org: str | None = None
    json: bool = False
    debug: bool = False
    _backend: WarehouseBackend | None = field(default=None, repr=False)
    _engine: SelfHealingEngine | None = field(default=None, repr=False)
    _out: Console | None = field(default=None, repr=False)

    @classmethod
    def of(cls, ctx: typer.Context) -> State:
        obj = ctx.find_root().obj
        return obj if isinstance(obj, State) else cls()

    # ------------------------------------------------------------------ library

    def backend(self, *, need_schema: bool = True) -> WarehouseBackend:
        """The warehouse ``--db`` names, opened once per invocation."""
        if self._backend is None:
            import resq

            # A command that reads an existing schema never creates an empty database
            # file from a mistyped path.
            options = {"create": False} if need_schema and _is_duckdb_file(self.db) else {}
            self._backend = resq.connect(self.db, **options)
        if need_schema and self._backend.schema_version() == 0:
            raise UsageProblem(
                f"the database {self.db} has no resq schema yet; "
                f"run `resq --db {self.db} init` first (or `resq --db {self.db} demo`)"
            )
        return self._backend

    def engine(self) -> SelfHealingEngine:
        if self._engine is None:
            from resq.engine import SelfHealingEngine

            self._engine = SelfHealingEngine(self.backend())
        return self._engine

    def scope(self) -> str | None:
        """The ``--org`` tenant, checked to exist (NotFoundError otherwise), or None."""
        if self.org is not None:
            self.backend().tenant(self.org)
        return self.org

    def refuse_org(self, what: str) -> None:
        """Commands that change data every organization shares do not run tenant-scoped."""
        if self.org is not None:
            raise UsageProblem(
                f"{what} changes data shared by every organization, so it does not run "
                f"with --org {self.org!r}; drop --org (or unset RESQ_ORG)"
            )

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
            self._engine = None

    # ------------------------------------------------------------------ output

    @property
    def out(self) -> Console:
        """Rich console on stdout: colour only on a terminal (and never with NO_COLOR)."""
        if self._out is None:
            from resq.cli._render import make_console

            self._out = make_console()
        return self._out

    def spinner(self, message: str) -> AbstractContextManager[Any]:
        """A spinner on stderr while long work runs; nothing when stderr is not a terminal
        or with --json, so pipes and logs stay clean."""
        if self.json or not sys.stderr.isatty():
            return nullcontext()
        from rich.console import Console

        return Console(stderr=True).status(message)

    @contextmanager
    def progress(
        self, message: str, *, enabled: bool = True
    ) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr (rows done of the total, percentage, time left), fed
        by the callback this yields with ``(done, total)``; nothing (a no-op callback) when
        stderr is not a terminal, with --json, or when not ``enabled`` (--no-progress)."""
        if not enabled or self.json or not _stderr_is_terminal():
            yield lambda done, total: None
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[rows]} rows"),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        task = bar.add_task(message, total=None, rows="0")

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, rows=f"{done:,}/{total:,}")

        with bar:
            yield update

    def emit(self, document: Any) -> None:
        """Write exactly one JSON document to stdout."""
        sys.stdout.write(json.dumps(_text.jsonable(document), indent=2, ensure_ascii=False))
        sys.stdout.write("\n")


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _is_duckdb_file(url: str) -> bool:
    scheme, _, rest = url.partition("://")
    return scheme.lower() == "duckdb" and rest.split("?", 1)[0] not in {"", "/", "localhost"}


# ---------------------------------------------------------------------- options

# The global options, accepted before or after the command (`resq orders --json`).
GLOBAL_FLAGS = frozenset({"--json", "--debug"})
GLOBAL_VALUED = frozenset({"--db", "--org"})


def hoist_global_options(args: list[str], commands: Iterable[str]) -> list[str]:
    """The arguments with every global option after the command moved before it.

    Only tokens up to ``--`` are looked at; a valued option takes its value along (either
    ``--db URL`` or ``--db=URL``).
    """
    names = set(commands)
    first = None
    i = 0
    while i < len(args):
        if args[i] == "--":
            break
        if args[i] in GLOBAL_VALUED:
            i += 2
            continue
        if args[i] in names:
            first = i
            break
        i += 1
    if first is None:
        return list(args)
    head, tail = list(args[:first]), args[first:]
    moved: list[str] = []
    kept: list[str] = []
    i = 0
    while i < len(tail):
        token = tail[i]
        if token == "--":
            kept.extend(tail[i:])
            break
        name = token.split("=", 1)[0]
        if token in GLOBAL_FLAGS or (name in GLOBAL_VALUED and "=" in token):
            moved.append(token)
        elif token in GLOBAL_VALUED and i + 1 < len(tail):
            moved.extend(tail[i : i + 2])
            i += 1
        else:
            kept.append(token)
        i += 1
    return head + moved + kept


def choice(values: Iterable[str], what: str) -> Callable[[str | None], str | None]:
    """An option callback that accepts one of ``values`` in any letter case and returns it
    as written there; anything else is a usage error (exit 2) listing the valid values."""
    canonical = {v.upper(): v for v in values}

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        found = canonical.get(value.strip().upper())
        if found is None:
            raise typer.BadParameter(
                f"{value!r} is not a valid {what}; use one of {', '.join(canonical.values())}"
            )
        return found

    return check


def _flags_without_type(command: Any) -> None:
    """Show flags as flags in help (``--verify``, not ``--verify <bool>``), everywhere."""
    for param in getattr(command, "params", ()):
        if getattr(param, "is_bool_flag", False) and param.metavar is None:
            param.metavar = ""
    original = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _flags_without_type(sub)


def actor_or_default(actor: str | None) -> str:
    """The acting user: ``--actor``, else the OS user, as the library records it."""
    if actor:
        return actor
    from resq.backends.warehouse import default_actor

    return default_actor()


# ---------------------------------------------------------------------- errors


def exit_code_for(exc: BaseException) -> int:
    """2 for bad input or usage, 1 when the warehouse failed or something unexpected."""
    from resq import errors

    if isinstance(exc, (UsageProblem, errors.ValidationError)):
        return EXIT_USAGE
    if isinstance(
        exc,
        (
            errors.NotFoundError,
            errors.InvalidTransitionError,
            errors.UnknownBackendError,
            errors.DatabaseLockedError,
            errors.TenantScopeError,
        ),
    ):
        return EXIT_USAGE
    if isinstance(exc, errors.BackendError):  # ConflictError, AnalysisSuspendedError, ...
        return EXIT_CHECK_FAILED
    if isinstance(exc, (errors.ResqError, ValueError, LookupError)):
        return EXIT_USAGE
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return EXIT_USAGE
    return EXIT_CHECK_FAILED


def describe(exc: BaseException) -> tuple[str, list[str]]:
    """One sentence for the error, and the bad rows of a validation error (if any)."""
    from resq import errors

    if isinstance(exc, errors.ValidationError):
        n = len(exc.issues)
        return (
            f"{exc.what}: {n} problem{'s' if n != 1 else ''}, nothing was written",
            [str(issue) for issue in exc.issues],
        )
    known = (errors.ResqError, UsageProblem, ValueError, LookupError, OSError)
    if isinstance(exc, known):
        text = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError) and exc.args:
            text = f"unknown key {exc.args[0]!r}"
        return text, []
    return (
        f"unexpected {type(exc).__name__}: {exc}; run with --debug for the traceback",
        [],
    )


def report_error(exc: BaseException, state: State) -> int:
    """Say what went wrong on stderr (and as JSON on stdout with --json); the exit code."""
    code = exit_code_for(exc)
    message, issues = describe(exc)
    if state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    lines = [f"error: {_text.clean(message)}"] + [f"  - {_text.clean(i)}" for i in issues]
    sys.stderr.write("\n".join(lines) + "\n")
    if state.json:
        state.emit(
            {
                "ok": False,
                "exit_code": code,
                "error": {"type": type(exc).__name__, "message": message, "issues": issues},
            }
        )
    return code


_DIGITS = re.compile(r"[0-9]{1,18}")
_NOT_READY = object()


class _ReadyValues:
    """typer's coercion of one parameter, except that a value already of the parameter's
    plain type (``str``, ``int``, ``float``, ``bool``, an Enum member: defaults, mostly) is
    taken as it is, and plain digits for an ``int`` become that int. typer coerces every
    value through a pydantic TypeAdapter, and importing pydantic costs more than a whole
    ``resq status``; any other value still goes through typer."""

    _PLAIN = (str, int, float, bool)

    def __init__(self, param: Any) -> None:
        self._param = param
        self._typer: Any = None

    def _ready(self, value: Any) -> Any:
        descriptor = self._param.type_descriptor
        info = descriptor.parameter_info
        annotation = descriptor.annotation
        if not isinstance(annotation, type) or self._param.multiple or self._param.nargs != 1:
            return _NOT_READY
        if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
            return _NOT_READY
        bounded = getattr(info, "min", None) is not None or getattr(info, "max", None) is not None
        if annotation in self._PLAIN and not bounded:
            if type(value) is annotation:
                return value
            if annotation is int and isinstance(value, str) and _DIGITS.fullmatch(value):
                return int(value)  # as pydantic makes it
            return _NOT_READY
        if issubclass(annotation, Enum) and isinstance(value, annotation):
            return value
        return _NOT_READY

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None and not (param.multiple or param.nargs == -1):
            return None
        ready = self._ready(value)
        if ready is not _NOT_READY:
            return ready
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self._param.type_descriptor)
        return self._typer.coerce(value, param=param, ctx=ctx)


def _install_ready_values(param: Any) -> None:
    if (
        getattr(param, "_runtime_param", False) is None
        and hasattr(param, "type_descriptor")
        and hasattr(param, "get_runtime_param")
    ):
        param._runtime_param = _ReadyValues(param)


def skip_coercing_ready_values(command: Any) -> None:
    """Install `_ReadyValues` on every parameter of ``command`` and its subcommands, the
    ``--help`` option too (made per command on first use); a no-op on a typer whose
    parameters do not coerce this way."""
    for param in getattr(command, "params", ()):
        _install_ready_values(param)
    make_help_option = getattr(command, "get_help_option", None)
    if make_help_option is not None and not getattr(command, "_resq_ready_help", False):

        def get_help_option(ctx: Any, _make: Any = make_help_option) -> Any:
            option = _make(ctx)
            if option is not None:
                _install_ready_values(option)
            return option

        command.get_help_option = get_help_option
        command._resq_ready_help = True
    for sub in getattr(command, "commands", {}).values():
        skip_coercing_ready_values(sub)


class ResqGroup(TyperGroup):
    """The root command: global options anywhere, flags shown as flags, and library errors
    turned into one sentence and an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _flags_without_type(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, self.commands))

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        skip_coercing_ready_values(self)
        return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            # The reader went away (`resq orders | head`): stop quietly, like other tools.
            _silence_stdout()
            raise typer.Exit(EXIT_OK) from None
        except Exception as exc:
            obj = ctx.obj
            state = obj if isinstance(obj, State) else State()
            code = report_error(exc, state)
            raise typer.Exit(code) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
