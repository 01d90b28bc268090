"""Commands that read only config: ``validate``, ``jobs`` and ``next``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from cronguard.cli.common import EnvOption, config_dir, console, find_job, load, parse_when
from cronguard.config import Environment, Job
from cronguard.config.loader import ENVIRONMENTS_DIR, display_path
from cronguard.config.model import format_duration
from lambdas.core.schedule import upcoming_slots
from lambdas.core.times import slot_key

app = typer.Typer()


@app.command()
def validate(env: str = EnvOption) -> None:
    """Check an environment's config with the same rules as synth."""
    environment = load(env)
    env_file = display_path(config_dir() / ENVIRONMENTS_DIR / f"{environment.name}.yaml")
    console.print(f"{env_file}: OK, {len(environment.jobs)} jobs", markup=False, highlight=False)


def jobs_table(environment: Environment) -> Table:
    table = Table(title=f"cronguard {environment.name}: {len(environment.jobs)} jobs")
    columns = ("job", "schedule", "time zone", "concurrency", "timeout", "deadline", "enabled")
    for column in (*columns, "owner"):
        table.add_column(column)
    for job in environment.jobs:
        owner = environment.owner_of(job)
        table.add_row(
            job.name,
            job.schedule,
            job.timezone,
            job.concurrency.value,
            format_duration(job.timeout),
            format_duration(job.starting_deadline) if job.starting_deadline else "-",
            "yes" if job.enabled else "no",
            owner.team if owner is not None else "-",
        )
    return table


def jobs_document(environment: Environment) -> dict[str, Any]:
    """What tools and other stacks need to find each job (``cronguard jobs --json``)."""
    return {
        "environment": environment.name,
        "stack": environment.stack_name,
        "jobs": [
            {
                "name": job.name,
                "stateMachineName": environment.state_machine_name(job),
                "stateMachineArn": environment.state_machine_arn(job),
                "stateMachineArnParameter": environment.state_machine_parameter(job),
                "schedule": job.schedule,
                "timezone": job.timezone,
                "concurrency": job.concurrency.value,
                "enabled": job.enabled,
                "owner": _owner(environment, job),
            }
            for job in environment.jobs
        ],
    }


def _owner(environment: Environment, job: Job) -> dict[str, Any] | None:
    owner = environment.owner_of(job)
    return owner.model_dump(exclude_defaults=True) if owner is not None else None


@app.command()
def jobs(
    env: str = EnvOption,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print JSON for tools: each job's state machine ARN (${AWS::…} where the "
        "environment is not pinned), its SSM parameter, schedule and concurrency",
    ),
) -> None:
    """List an environment's jobs: schedule, time zone, concurrency, enabled."""
    environment = load(env)
    if as_json:
        print(json.dumps(jobs_document(environment), indent=2))
        return
    console.print(jobs_table(environment))


@app.command("next")
def next_slots(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    count: int = typer.Option(5, "-n", "--count", min=1, max=1000, help="How many slots"),
    after: str | None = typer.Option(None, help="Start from this time (default: now)"),
) -> None:
    """The job's next slots, in its time zone and in UTC, as Scheduler will fire them."""
    environment = load(env)
    the_job = find_job(environment, job)
    start = parse_when(after) if after else datetime.now(UTC).replace(microsecond=0)
    slots = upcoming_slots(the_job.schedule, the_job.timezone, after=start, count=count)
    table = Table(
        title=f"{environment.name}/{the_job.name}: {the_job.schedule} ({the_job.timezone})"
    )
    table.add_column("#", justify="right")
    table.add_column(f"slot ({the_job.timezone})")
    table.add_column("slot (UTC)")
    # A rate schedule counts from any second: both columns then show it.
    local_format = (
        "%Y-%m-%d %H:%M:%S %a %Z" if any(s.second for s in slots) else "%Y-%m-%d %H:%M %a %Z"
    )
    for number, slot in enumerate(slots, start=1):
        table.add_row(
            str(number),
            slot.strftime(local_format),
            slot_key(slot),
        )
    console.print(table)
    if not the_job.enabled:
        console.print(
            f"{the_job.name} is disabled in environment '{environment.name}' (enabled: false): "
            "its schedule is deployed disabled and fires none of these slots.",
            markup=False,
            highlight=False,
        )
    if the_job.schedule.startswith("rate("):
        console.print(
            "rate schedules count from when the schedule was created; shown counting from "
            f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}.",
            markup=False,
        )
