"""The ``cronguard`` command line: check config and see an environment's jobs."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from cronguard.config import ConfigError, Environment, load_environment
from cronguard.config.model import format_duration

app = typer.Typer(
    help="Guarded schedules for ECS batch jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

EnvOption = typer.Option(
    "dev", "--env", "-e", help="Environment name (config/environments/<env>.yaml)"
)


def _load(env: str) -> Environment:
    try:
        return load_environment(env)
    except ConfigError as error:
        for problem in error.problems:
            errors.print(f"error: {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command()
def validate(env: str = EnvOption) -> None:
    """Check an environment's config with the same rules as synth."""
    environment = _load(env)
    console.print(
        f"config/environments/{environment.name}.yaml: OK, {len(environment.jobs)} jobs",
        markup=False,
        highlight=False,
    )


def jobs_table(environment: Environment) -> Table:
    table = Table(title=f"cronguard {environment.name}: {len(environment.jobs)} jobs")
    for column in ("job", "schedule", "time zone", "policy", "timeout", "deadline", "enabled"):
        table.add_column(column)
    for job in environment.jobs:
        table.add_row(
            job.name,
            job.schedule,
            job.timezone,
            job.concurrency.value,
            format_duration(job.timeout),
            format_duration(job.starting_deadline) if job.starting_deadline else "-",
            "yes" if job.enabled else "no",
        )
    return table


@app.command()
def jobs(env: str = EnvOption) -> None:
    """List an environment's jobs: schedule, time zone, concurrency policy, enabled."""
    console.print(jobs_table(_load(env)))


def main() -> None:
    app()
