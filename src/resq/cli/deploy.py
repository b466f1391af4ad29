"""``resq deploy snowflake``: install or upgrade every resq object in Snowflake."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from resq.cli._runtime import State, UsageProblem

app = typer.Typer(no_args_is_help=True)


@app.callback()
def deploy() -> None:
    """Deploy resq into a warehouse that runs it by itself (Snowflake).

    Examples:

    ```
    resq deploy snowflake --dry-run
    resq --db 'snowflake://?connection_name=prod' deploy snowflake
    ```
    """


@app.command("snowflake")
def snowflake(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan as SQL (and write the project files); connect to nothing.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the plan offline (no connection): one line per finding "
            "(object, problem, fix); exit 1 on any finding.",
        ),
    ] = False,
    account_setup: Annotated[
        bool,
        typer.Option(
            "--account-setup",
            help="Print the one-time account set-up an administrator runs first, in "
            "order, with these names; connect to nothing.",
        ),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Where to write the Streamlit in Snowflake project: snowflake.yml, "
            "environment.yml, streamlit_app.py and the resq package (code and SQL) under "
            "resq/ (and resq.zip with --dry-run).",
        ),
    ] = Path("."),
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            metavar="NAME",
            help="Database (default: the connection's; RESQ with --dry-run).",
            show_default=False,
        ),
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            metavar="NAME",
            help="Schema (default: the connection's; CORE with --dry-run).",
            show_default=False,
        ),
    ] = None,
    warehouse: Annotated[
        str | None,
        typer.Option(
            "--warehouse",
            metavar="NAME",
            help="Warehouse of the dynamic table, the task and the app (default RESQ_WH).",
            show_default=False,
        ),
    ] = None,
    engine_role: Annotated[
        str | None,
        typer.Option(
            "--engine-role",
            metavar="NAME",
            help="Role that owns the objects and is exempt from the row access policy "
            "(default RESQ_ENGINE).",
            show_default=False,
        ),
    ] = None,
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            metavar="NAME",
            help="Role of the dashboard, granted what it needs (default RESQ_APP).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or upgrade every resq object in Snowflake, idempotently.

    The plan, in order: the tables, the entitlement mapping, the row access policy, the
    resq code stage, the Python functions, the procedures (RESQ_HEAL and the app's write
    procedures), the stock_analysis dynamic table, the policy on every org-scoped table,
    the stream and the task that heal on change, and alert delivery (when present). Each
    object's grants to the app role come right after it (an org-scoped table's after its
    policy), so a deploy that stops part-way leaves a usable installation and says which
    step failed. Re-running changes nothing that is already right and drops no data. It
    also writes a self-contained Streamlit in Snowflake project into --out (snowflake.yml,
    definition_version 2, environment.yml, the entry point and the resq package), so
    `snow streamlit deploy` run there publishes the dashboard; it says which files it
    wrote (on stderr with --dry-run, whose stdout is the SQL). Run it with the engine
    role, after the one-time account set-up (--account-setup prints it; see
    docs/snowflake.md).

    Examples:

    ```
    resq deploy snowflake --account-setup > account_setup.sql
    resq deploy snowflake --dry-run > plan.sql
    resq --db 'snowflake://?connection_name=prod' deploy snowflake --out deploy/
    ```
    """
    from resq.backends.snowflake import plan

    state = State.of(ctx)
    state.refuse_org("deploy")
    names: dict[str, Any] = {
        k: v
        for k, v in {
            "database": database,
            "schema": schema,
            "warehouse": warehouse,
            "engine_role": engine_role,
            "app_role": app_role,
        }.items()
        if v is not None
    }
    if check:
        _check(state, plan.DeployConfig(**names))
        return
    if account_setup:
        statements = plan.account_setup(plan.DeployConfig(**names))
        if state.json:
            state.emit({"account_setup": statements})
        else:
            typer.echo(plan.render_account_setup(statements), nl=False)
        return
    if dry_run:
        config = plan.DeployConfig(**names, code_zip=(out / plan.CODE_ZIP).resolve())
        steps = plan.build(config)
        plan.build_code_zip(config.code_zip)
        written = plan.write_project(config, out)
        if state.json:
            state.emit(
                {
                    "dry_run": True,
                    "steps": [
                        {
                            "step": s.name,
                            "purpose": s.purpose,
                            "statements": [
                                {"sql": st.sql, "unless": st.unless} for st in s.statements
                            ],
                        }
                        for s in steps
                    ],
                    "files": [str(p) for p in [*written, config.code_zip]],
                }
            )
            return
        typer.echo(plan.render(steps), nl=False)
        typer.echo(_wrote([*written, config.code_zip]), err=True)
        return
    backend = _snowflake_backend(state)
    from dataclasses import replace

    config = replace(backend.deploy_config(), **names)
    with state.spinner("Deploying resq into Snowflake"):
        done = backend.deploy(config)
    written = plan.write_project(config, out)
    ran = sum(1 for d in done if d.ran)
    if state.json:
        state.emit(
            {
                "dry_run": False,
                "statements_run": ran,
                "statements_skipped": len(done) - ran,
                "applied": [{"step": d.step, "sql": d.sql, "ran": d.ran} for d in done],
                "files": [str(p) for p in written],
            }
        )
        return
    state.out.print(
        f"Deployed resq into {config.database}.{config.schema}: {ran} statements run, "
        f"{len(done) - ran} already in place. {_wrote(written)}; publish the dashboard "
        f"with `cd {out} && snow streamlit deploy --replace`.",
        markup=False,
    )


def _wrote(paths: list[Path]) -> str:
    """Which files a deploy wrote, so nothing lands in a folder unannounced."""
    return "Wrote " + ", ".join(str(p) for p in paths)


def _check(state: State, config: Any) -> None:
    from resq.backends.snowflake import checks

    names = sorted(checks.registered())
    findings = checks.run(config=config)
    if state.json:
        state.emit(
            {
                "checks": names,
                "findings": [
                    {"check": f.check, "object": f.object, "problem": f.problem, "fix": f.fix}
                    for f in findings
                ],
            }
        )
    else:
        for finding in findings:
            typer.echo(finding.line())
        verdict = "not ready" if findings else "ready"
        typer.echo(
            f"{verdict}: {len(names)} checks ({', '.join(names) or 'none'}), "
            f"{len(findings)} findings"
        )
    if findings:
        raise typer.Exit(1)


def _snowflake_backend(state: State) -> Any:
    backend = state.backend(need_schema=False)
    if getattr(backend, "name", None) != "snowflake":
        raise UsageProblem(
            f"`resq deploy snowflake` needs a Snowflake connection, not {state.db}; pass "
            "--db snowflake://user@account/DB/SCHEMA?warehouse=WH (or RESQ_DB), or use "
            "--dry-run to print the plan"
        )
    return backend
