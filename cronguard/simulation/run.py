"""``cronguard simulate``: deploy the assembly locally, run the scenario, show the timeline."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cronguard.config import Environment
from cronguard.simulation.deploy import AssemblyError
from cronguard.simulation.scenario import Result, Simulation, pick_job

TASK_SECONDS = 3.0


def _quiet() -> None:
    """The engine and the handlers log every step; the timeline says what matters."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    for name in ("moto", "cronguard.local", "botocore", "aws_lambda_powertools"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def timeline(result: Result) -> Table:
    table = Table(title=f"cronguard simulation: {result.job}")
    for column in ("step", "execution", "slot", "decision", "reason", "ECS task", "outcome"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(
            row.step,
            row.execution,
            row.slot,
            row.decision,
            row.reason,
            row.task,
            row.outcome,
            style="bold" if row.decision == "run" else None,
        )
    return table


def simulate_environment(
    environment: Environment, assembly: Path, job: str | None, burst: int, console: Console
) -> Result:
    _quiet()
    from cronguard.local import LocalAws
    from cronguard.simulation.deploy import LocalEnvironment

    if not (assembly / f"{environment.stack_name}.template.json").exists():
        raise FileNotFoundError(
            f"{assembly}/{environment.stack_name}.template.json not found: run "
            f"`npx cdk synth -c env={environment.name}` (or `make synth ENV={environment.name}`)"
        )
    with LocalAws() as aws:
        console.print(f"▶ deploying {environment.stack_name} from {assembly} to the local engine")
        try:
            local = LocalEnvironment(aws, environment, assembly).deploy()
        except AssemblyError as error:
            raise FileNotFoundError(str(error)) from None
        chosen = pick_job(local, job)
        console.print(
            f"▶ job {chosen.name}: {chosen.schedule} ({chosen.timezone}), "
            f"concurrency {chosen.concurrency.value}, {len(local.jobs)} state machines deployed"
        )
        simulation = Simulation(
            local,
            chosen,
            burst=burst,
            task_seconds=TASK_SECONDS,
            progress=lambda message: console.print(f"▶ {message}"),
        )
        result = simulation.run()
    console.print(timeline(result))
    for check in result.checks:
        mark = "[green]✔[/green]" if check.ok else "[red]✘[/red]"
        console.print(f"{mark} {check.guarantee} — {check.detail}")
    console.print(
        "all guarantees held" if result.ok else "[red]a guarantee failed[/red]",
    )
    return result
