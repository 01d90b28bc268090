"""``simulate``: the synthesized state machines and the real guard, run locally."""

from __future__ import annotations

from pathlib import Path

import typer

from cronguard.cli.common import (
    RUNTIME_ERROR,
    USAGE_ERROR,
    EnvOption,
    console,
    fail,
    find_job,
    load,
)

app = typer.Typer()


@app.command()
def simulate(
    env: str = EnvOption,
    assembly: Path = typer.Option(
        Path("cdk.out"), help="The synthesized cloud assembly (npx cdk synth -c env=<env>)"
    ),
    job: list[str] | None = typer.Option(
        None,
        help="Job to simulate; repeat it for several, deployed once (default: first forbid job)",
    ),
    burst: int = typer.Option(8, min=2, max=50, help="Duplicate triggers for one slot"),
    report: Path | None = typer.Option(
        None,
        dir_okay=False,
        help="Also write the timeline as a self-contained HTML page (e.g. simulation.html)",
    ),
) -> None:
    """Run the synthesized state machines and the real guard locally (no AWS): a burst of
    duplicate triggers, an overlapping slot, a late duplicate and a failing run (and a retried
    one, for a job with job_retries)."""
    environment = load(env)
    chosen = [find_job(environment, name) for name in job or []]  # before 20 s of deploying
    # Only the simulation needs the local engine, the optional simulate extra: import it
    # here, not for every command, and say so in one line when it is not installed.
    from cronguard.extras import MissingExtra

    try:
        from cronguard_simulation.report import ReportError
        from cronguard_simulation.run import simulate_environment
    except MissingExtra as error:
        fail(error, USAGE_ERROR)

    try:
        results = simulate_environment(environment, assembly, chosen, burst, console, report)
    except KeyError as error:
        fail(Exception(error.args[0]))
    except (FileNotFoundError, ReportError) as error:
        fail(error)
    if not all(result.ok for result in results):
        raise typer.Exit(RUNTIME_ERROR)
