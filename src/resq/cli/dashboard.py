"""``resq dashboard``: serve the Streamlit dashboard on this machine, over the configured
warehouse (``--db``) and, with ``--org``, locked to one organization."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from typing import Annotated

import typer

from resq.cli._runtime import State, UsageProblem


def dashboard(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option("--port", min=1, max=65535, help="Serve on http://127.0.0.1:PORT."),
    ] = 8501,
    headless: Annotated[
        bool,
        typer.Option("--headless", help="Do not open a browser; just serve (on a server)."),
    ] = False,
) -> None:
    """Serve the dashboard: validation (checks, chaos, heal) and operations (stock,
    orders with manual override, alerts, health, charts).

    Runs `streamlit run` on the app, on 127.0.0.1 only, over the warehouse `--db` names.
    With `--org` the dashboard is locked to that organization: nothing of another one is
    shown or can be changed. Stop it with Ctrl+C. A DuckDB file is open in one process at a
    time: while the dashboard runs, other `resq` commands on that file are refused
    (database locked).

    Needs the dashboard extra: `pip install 'resq[dashboard]'`.

    Examples:

    ```
    resq --db duckdb:///demo.duckdb dashboard
    resq --org HOSP-BLR-001 dashboard --port 8502 --headless
    ```
    """
    state = State.of(ctx)
    if state.json:
        raise UsageProblem("`resq dashboard` serves a web app and has no --json output")
    if importlib.util.find_spec("streamlit") is None:
        raise UsageProblem("the dashboard needs Streamlit: pip install 'resq[dashboard]'")
    if state.org is not None:
        state.scope()  # the organization exists, or a clear error now rather than in the app
    state.close()  # the app opens the warehouse itself (a DuckDB file allows one process)

    from resq.dashboard import app_environment, streamlit_command

    where = f"{state.db}" + (f", locked to {state.org}" if state.org else "")
    sys.stderr.write(f"resq dashboard: http://127.0.0.1:{port} ({where}); Ctrl+C stops it\n")
    # Streamlit runs in its own session; Ctrl+C or a stop signal to this command is passed
    # on once, and the command waits for it to shut down (no server is left behind).
    process = subprocess.Popen(
        streamlit_command(port, headless=headless),
        env=app_environment(state.db, state.org),
        start_new_session=True,
    )
    code = _wait_passing_on_signals(process)
    if code:
        raise typer.Exit(code)


def _wait_passing_on_signals(process: subprocess.Popen[bytes]) -> int:
    def pass_on(signum: int, frame: object) -> None:
        process.send_signal(signum)

    stops = [signal.SIGINT, signal.SIGTERM]
    try:
        previous = {s: signal.signal(s, pass_on) for s in stops}
    except ValueError:  # not the main thread: signals stay where they are
        previous = {}
    try:
        return process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
