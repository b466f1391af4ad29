"""Setting a warehouse up: ``resq init``, ``resq seed`` and ``resq load``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from resq.cli._runtime import ActorOption, State, actor_or_default
from resq.cli.watch import ConfigOption


def init(ctx: typer.Context, config: ConfigOption = None, actor: ActorOption = None) -> None:
    """Create or upgrade the schema, SQL functions and stock_analysis (safe to re-run).

    Existing data is kept: re-running init only adds what is missing. When an alerting
    config is given (or resq.toml is in the current folder) its routing is stored too.

    Examples:

    ```
    resq init
    resq --db duckdb:///site.duckdb init --config resq.toml
    ```
    """
    state = State.of(ctx)
    state.refuse_org("init")
    backend = state.backend(need_schema=False)
    alerting = None
    if config is not None or (Path.cwd() / "resq.toml").is_file():
        from resq.cli.watch import load_alerting_config

        alerting = load_alerting_config(config)  # a bad config stops before any change
    with state.spinner("Creating the schema, functions and stock_analysis"):
        result = backend.init()
    applied = None
    if alerting is not None:
        from resq.alerting import apply_config

        applied = apply_config(backend, alerting, actor=actor_or_default(actor))
    if state.json:
        extra = {"alerting": applied.as_dict()} if applied is not None else {}
        state.emit({"db": state.db, **result, **extra})
        return
    version = result["schema_version"]
    if result["previous_version"] == 0:
        what = f"created schema version {version}"
    elif result["upgraded"]:
        what = f"upgraded the schema from version {result['previous_version']} to {version}"
    else:
        what = f"schema version {version} is up to date"
    state.out.print(f"Initialised {state.db}: {what}.", markup=False)
    if applied is not None:
        state.out.print(
            f"Alert routing from {applied.source}: "
            + ("stored" if applied.changed else "already up to date")
            + f" ({applied.routes or 'default'} route(s), {applied.channels} channel(s)).",
            markup=False,
        )


def seed(
    ctx: typer.Context,
    orgs: Annotated[
        int, typer.Option("--orgs", min=1, help="How many organizations (sectors rotate).")
    ] = 6,
    skus_per_org: Annotated[
        int, typer.Option("--skus-per-org", min=1, help="How many items each organization keeps.")
    ] = 3,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=0,
            help="Days of daily consumption and stock history to simulate per item, ending "
            "yesterday (stored in stock_history; 0 for none).",
        ),
    ] = 30,
    seed_value: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same network.")
    ] = 42,
    replace_real: Annotated[
        bool,
        typer.Option(
            "--replace-real",
            help="Replace REAL rows whose keys the simulated network uses (audited). "
            "Without it, seeding refuses and writes nothing.",
        ),
    ] = False,
    no_progress: Annotated[
        bool,
        typer.Option(
            "--no-progress",
            help="No progress bar (it shows on a terminal only, on stderr, never with --json).",
        ),
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Load a deterministic simulated network, every row labelled SIMULATED.

    Hospitals, PDS shops and NGOs (sectors rotate) in Bangalore and Delhi, with their
    stock, and vendors including Blinkit and Dunzo. The same seed gives the same network.
    Re-seeding replaces the simulated rows with the same keys (stock is reset). REAL rows
    are never touched: if one has a key the network uses, seeding names it and writes
    nothing, unless --replace-real says to replace it.

    The network is generated and written in batches in one transaction (all or nothing),
    with memory flat in its size; a terminal shows a progress bar on stderr.

    Examples:

    ```
    resq seed
    resq seed --orgs 30 --skus-per-org 5 --seed 7
    ```
    """
    state = State.of(ctx)
    state.refuse_org("seed")
    engine = state.engine()
    with state.progress("Seeding", enabled=not no_progress) as progress:
        counts = engine.seed(
            n_orgs=orgs,
            skus_per_org=skus_per_org,
            seed=seed_value,
            days=days,
            actor=actor,
            replace_real=replace_real,
            progress=progress,
        )
    doc = {
        "rows": counts,
        "orgs": orgs,
        "skus_per_org": skus_per_org,
        "seed": seed_value,
        "days": days,
        "data_source": "SIMULATED",
    }
    if state.json:
        state.emit(doc)
        return
    from resq.cli import _render

    rows = [{"table": t, "rows": n, "data_source": "SIMULATED"} for t, n in counts.items()]
    _render.print_table(
        state.out,
        rows,
        [("table", "Table"), ("rows", "Rows"), ("data_source", "Source")],
        title=f"Seeded a simulated network (seed {seed_value})",
    )
    _render.simulated_note(state.out, rows)


class LoadMode(StrEnum):
    upsert = "upsert"
    append = "append"


def load(
    ctx: typer.Context,
    table: Annotated[
        str,
        typer.Argument(
            metavar="TABLE",
            help="organizations, inventory, vendors, catalog, sectors or stock_history (or "
            "the full table names inventory_master, vendor_catalog, sector_config).",
            show_default=False,
        ),
    ],
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A .csv, .parquet or .json file.", show_default=False),
    ],
    mode: Annotated[
        LoadMode,
        typer.Option(
            "--mode",
            metavar="MODE",
            help="upsert replaces rows with the same key; append refuses existing keys.",
            case_sensitive=False,
        ),
    ] = LoadMode.upsert,
    null_marker: Annotated[
        list[str] | None,
        typer.Option(
            "--null-marker",
            metavar="TEXT",
            help="Text that means a missing value, e.g. NA (repeat for more). Without it "
            "only an empty field is missing and NA, NULL or nan are values.",
            show_default=False,
        ),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Load your own data from a file, labelled REAL and validated as a whole.

    One bad row writes nothing; the error lists every bad row, column and reason.
    Values are kept exactly or refused: unknown columns, true/false in number columns,
    numbers outside their plausible range (stock and consumption 0 to 1e9, lead time 0
    to 365 days, pack size above 0 up to 1e6), unknown codes and control characters in
    ids and names are errors. Codes (sector, category, data_source) may be in any case
    and padded: they are stored trimmed and upper-cased. The full rules: "What a load
    accepts" in docs/backends.md.

    Examples:

    ```
    resq load organizations orgs.csv
    resq load inventory stock.parquet --mode append
    resq load inventory stock.csv --null-marker NA --null-marker NULL
    resq load stock_history history.csv
    ```
    """
    state = State.of(ctx)
    state.refuse_org("load")
    backend = state.backend()
    with state.spinner(f"Validating and loading {file}"):
        report = backend.load(
            table, file, mode=mode.value, actor=actor, null_markers=tuple(null_marker or ())
        )
    doc = {
        "table": report.table,
        "rows": report.rows,
        "data_source": report.data_source,
        "file": str(file),
    }
    if state.json:
        state.emit(doc)
        return
    state.out.print(
        f"Loaded {report.rows} row{'s' if report.rows != 1 else ''} into {report.table} "
        f"(labelled {report.data_source}).",
        markup=False,
    )
