"""``resq watch``: the self-healing loop on a schedule, and the ``--config`` option shared
by the commands that read ``resq.toml``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from resq.cli import _text
from resq.cli._runtime import EXIT_CHECK_FAILED, State, UsageProblem

if TYPE_CHECKING:
    from resq.alerting import AlertingConfig, TickReport

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="RESQ_CONFIG",
        metavar="FILE",
        help="The alerting config (stakeholders, routes, channels, escalation). Default: "
        "resq.toml in the current folder, if there is one.",
        show_default=False,
    ),
]


def load_alerting_config(path: Path | None) -> AlertingConfig:
    """The config named by ``--config`` or found in the current folder (defaults if none)."""
    from resq.alerting import load_config

    return load_config(path)


def watch(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0,
            metavar="SECONDS",
            help="Seconds between ticks. Default: [watch] interval in the config, else 60.",
            show_default=False,
        ),
    ] = None,
    cycles: Annotated[
        int | None,
        typer.Option(
            "--cycles",
            min=1,
            metavar="N",
            help="Stop after N ticks. Default: run until SIGINT or SIGTERM.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Watch the stock: every interval, refresh the analysis when due, heal, escalate
    unacknowledged alerts and deliver the outbox.

    The local equivalent of Snowflake's tasks and alerts. The config's routing is stored
    in the warehouse when the watcher starts. One watcher runs per database; a DuckDB file
    is released between ticks, so `resq ack` and `resq status` work while it runs.
    Ctrl-C or SIGTERM stops it after the current step. A failing step is reported and
    tried again next tick. Exits 1 when a step of the last tick failed.

    Examples:

    ```
    resq watch --interval 30
    resq --db duckdb:///site.duckdb watch --config /etc/resq/resq.toml
    resq watch --cycles 3 --interval 0
    ```
    """
    state = State.of(ctx)
    state.refuse_org("watch")
    cfg = load_alerting_config(config)
    missing = cfg.missing_environment()
    if missing:
        raise UsageProblem("; ".join(missing) + " (credentials come only from the environment)")
    state.backend()  # a clear error before the loop if there is no schema
    db = state.db
    state.close()

    import resq
    from resq.alerting import Watcher

    def on_tick(tick: TickReport) -> None:
        if not state.json:
            state.out.print(tick_line(tick), markup=False)

    def on_start() -> None:
        if not state.json:
            where = cfg.source or "default routing (no resq.toml)"
            state.out.print(
                f"Watching {db} every {_text.number(watcher.interval)} s "
                f"({'for ' + str(cycles) + ' tick(s)' if cycles else 'until stopped'}); "
                f"config: {where}.",
                markup=False,
            )

    watcher = Watcher(
        lambda: resq.connect(db),
        cfg,
        interval=interval,
        console=sys.stderr if state.json else None,
        on_tick=on_tick,
        on_start=on_start,
    )
    with _logging(state.debug):
        report = watcher.run(cycles=cycles)
    if state.json:
        state.emit(
            {"db": db, "config": cfg.source, "interval_s": watcher.interval, **report.as_dict()}
        )
    else:
        state.out.print(
            f"Stopped after {len(report.ticks)} tick(s): {report.stopped_by or 'done'}.",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def tick_line(tick: TickReport) -> str:
    """One line per tick: what each step did, or why it failed."""
    parts = [f"tick {tick.tick} {tick.started_at:%H:%M:%S}"]
    for s in tick.steps:
        if not s.ok:
            parts.append(f"{s.step} FAILED: {_text.clean(s.error)}")
            continue
        parts.append(f"{s.step}: {_summary(s.step, s.detail)}")
    return " | ".join(parts)


def _summary(step: str, d: dict[str, Any]) -> str:
    if step == "refresh":
        return "refreshed" if d.get("refreshed") else "fresh"
    if step == "heal":
        return (
            f"{d.get('created', 0)} order(s), {d.get('alerts_raised', 0)} alert(s), "
            f"{d.get('notifications_queued', 0)} queued"
        )
    if step == "escalate":
        return f"{len(d.get('escalated', []))} escalated, {len(d.get('resolved', []))} resolved"
    if step == "deliver":
        return (
            f"{d.get('sent', 0)} sent, {d.get('retrying', 0)} retrying, {d.get('failed', 0)} failed"
        )
    return _text.clean(d)


class _logging:
    """Warnings of the watch loop (a failed step, a signal) on stderr while it runs."""

    def __init__(self, debug: bool) -> None:
        self.level = logging.DEBUG if debug else logging.WARNING
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.logger = logging.getLogger("resq")
        self.previous = self.logger.level

    def __enter__(self) -> None:
        self.logger.addHandler(self.handler)
        self.logger.setLevel(self.level)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.previous)
