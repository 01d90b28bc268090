"""``cronguard simulate``: deploy the assembly locally, run the scenario, show the timeline."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cronguard.config import Environment, Job
from cronguard.config.model import (
    JOB_RETRY_INTERVAL_SECONDS as SYNTHESIZED_JOB_RETRY_INTERVAL_SECONDS,
)
from cronguard_simulation.deploy import AssemblyError, LocalEnvironment, check_assembly
from cronguard_simulation.report import render
from cronguard_simulation.scenario import Result, Simulation, deployed_manifest, pick_job
from lambdas.core.metrics_contract import (
    CLEANUP_LOG_SERVICE,
    GUARD_LOG_SERVICE,
    SLOT_WATCH_LOG_SERVICE,
    SWEEPER_LOG_SERVICE,
)
from lambdas.slot_watch.manifest import Manifest

# A failed run is retried after 30 s, doubling (job_retries): the simulation waits 1 s instead.
JOB_RETRY_INTERVAL_SECONDS = 1


def _quiet() -> None:
    """The engine and the handlers log every step; the timeline says what matters."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    # The handlers' loggers exist already (deploy imports the handlers), at their own level.
    handlers = (GUARD_LOG_SERVICE, CLEANUP_LOG_SERVICE, SWEEPER_LOG_SERVICE, SLOT_WATCH_LOG_SERVICE)
    for name in (
        "moto",
        "cronguard_simulation.engine",
        "botocore",
        "aws_lambda_powertools",
        *handlers,
    ):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # Powertools' child loggers (``Logger(child=True)``) carry a level of their own.
    children = [
        name
        for name in logging.root.manager.loggerDict
        if name.startswith(tuple(f"{handler}." for handler in handlers))
    ]
    for name in children:
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
    environment: Environment,
    assembly: Path,
    jobs: Sequence[Job],
    burst: int,
    console: Console,
    report: Path | None = None,
) -> list[Result]:
    """Deploy the assembly once and run the scenario for each of `jobs` (none: the first
    enabled forbid job), one after another on the same engine; with `report`, write the
    timeline page there too (whether or not every guarantee held)."""
    _quiet()
    from cronguard_simulation.engine import LocalAws

    chosen = list(jobs) or [pick_job(environment)]
    if not (assembly / f"{environment.stack_name}.template.json").exists():
        raise FileNotFoundError(
            f"{assembly}/{environment.stack_name}.template.json not found: run "
            f"`npx cdk synth -c env={environment.name}` (or `make synth ENV={environment.name}`)"
        )
    results: list[Result] = []
    try:
        check_assembly(environment, assembly)
        manifest = deployed_manifest(assembly, environment.stack_name)  # the slot watch's
        with LocalAws() as aws:
            console.print(
                f"▶ deploying {environment.stack_name} from {assembly} to the local engine"
            )
            local = LocalEnvironment(
                aws, environment, assembly, job_retry_interval_seconds=JOB_RETRY_INTERVAL_SECONDS
            ).deploy()
            for job in chosen:
                results.append(_simulate_job(local, job, burst, console, manifest))
    except AssemblyError as error:
        raise FileNotFoundError(str(error)) from None
    if report is not None:
        write_report(report, environment, chosen, results)
        console.print(f"▶ report: {report}", markup=False, highlight=False)
    return results


def write_report(
    path: Path, environment: Environment, jobs: Sequence[Job], results: Sequence[Result]
) -> None:
    """The timeline page of `results` (one section per job) at `path`."""
    details = {job.name: _job_line(job) for job in jobs}
    page = render(results, title=f"cronguard simulation: {environment.name}", details=details)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")


def _job_line(job: Job) -> str:
    retries = f", job_retries {job.job_retries}" if job.max_job_retries else ""
    return f"{job.schedule} ({job.timezone}), concurrency {job.concurrency.value}{retries}"


def _simulate_job(
    local: LocalEnvironment, job: Job, burst: int, console: Console, manifest: Manifest
) -> Result:
    retries = (
        f", job_retries {job.job_retries} (retried after {JOB_RETRY_INTERVAL_SECONDS} s "
        f"here, {SYNTHESIZED_JOB_RETRY_INTERVAL_SECONDS} s deployed)"
        if job.max_job_retries
        else ""
    )
    console.print(
        f"▶ job {job.name}: {job.schedule} ({job.timezone}), "
        f"concurrency {job.concurrency.value}{retries}, "
        f"{len(local.jobs)} state machines deployed"
    )
    if not job.enabled:
        console.print(
            f"▶ {job.name} is disabled in {local.environment.name}: its schedule never fires, "
            "so the simulation starts its executions directly"
        )
    simulation = Simulation(
        local,
        job,
        burst=burst,
        progress=lambda message: console.print(f"▶ {message}"),
        manifest=manifest,
    )
    result = simulation.run()
    console.print(timeline(result))
    for check in result.checks:
        mark = "[green]✔[/green]" if check.ok else "[red]✘[/red]"
        console.print(f"{mark} {check.guarantee} — {check.detail}", soft_wrap=True)  # one line
    console.print("all guarantees held" if result.ok else "[red]a guarantee failed[/red]")
    return result
