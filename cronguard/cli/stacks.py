"""``cronguard stacks``: which nested job stack each job lives in, and the rare deliberate move.

The lock file ``config/environments/<env>.stacks.json`` records it (``config/placement.py``);
synth writes it outside CI, ``assign`` writes it on purpose, ``move`` is the only way a
placed job changes its stack.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cronguard.cli.common import (
    USAGE_ERROR,
    EnvOption,
    config_dir,
    console,
    find_job,
    load,
    print_error,
    say,
)
from cronguard.config import Environment
from cronguard.config.loader import display_path
from cronguard.config.placement import (
    MAX_JOB_STACKS,
    MAX_JOBS_PER_STACK,
    Placement,
    lock_path,
    stack_id,
    write_lock,
)

MOVE_WARNING = (
    "A move deletes the job's resources (state machine, schedule, guard, task definition, "
    "roles, alarm, SSM handle) in its old job stack and creates them in the new one. Their "
    "names are fixed, so one deploy cannot do both: CloudFormation creates before it deletes, "
    "and the create fails while the old stack still holds the state machine '<env>-<job>'. "
    "Move in two deploys: remove the job from config, deploy (a run in progress is stopped "
    "and recorded as a removed job's; the ledger keeps its history), add it back, move it, "
    "deploy."
)

app = typer.Typer(
    help="Which nested job stack each job lives in (config/environments/<env>.stacks.json).",
    no_args_is_help=True,
)


def _lock(environment: Environment) -> Path:
    return lock_path(config_dir(), environment.name)


@app.command("list")
def list_stacks(env: str = EnvOption) -> None:
    """Each job stack and its jobs (new jobs where synth would place them)."""
    environment = load(env)
    placement = environment.placement()
    table = Table(title=f"cronguard {environment.name}: {len(placement.stacks)} jobs")
    for column in ("stack", "jobs", "room", "job names"):
        table.add_column(column)
    for index, jobs in placement.by_stack().items():
        new = [f"{job} (new)" if job in placement.added else job for job in jobs]
        room = str(MAX_JOBS_PER_STACK - len(jobs))
        table.add_row(stack_id(index), str(len(jobs)), room, ", ".join(new))
    console.print(table)
    if placement.changed:
        say(f"{display_path(_lock(environment))}: {placement.summary(written=False)}")


@app.command()
def assign(env: str = EnvOption) -> None:
    """Write the lock file: place new jobs, free removed jobs' places, move nothing else."""
    environment = load(env)
    placement = environment.placement()
    if not placement.changed:
        say(f"{display_path(_lock(environment))}: up to date")
        return
    write_lock(_lock(environment), environment.name, placement.stacks)
    say(f"{display_path(_lock(environment))}: {placement.summary()}; commit it")


@app.command(help=f"Move JOB to job stack N (rarely needed). {MOVE_WARNING}")
def move(
    job: str = typer.Argument(..., help="The job to move"),
    to: int = typer.Option(..., "--to", min=0, max=MAX_JOB_STACKS - 1, help="Its new stack"),
    env: str = EnvOption,
) -> None:
    environment = load(env)
    named = find_job(environment, job)
    placement = environment.placement()
    stacks = dict(placement.stacks)
    before = stacks[named.name]
    if before == to:
        say(f"{named.name} is in {stack_id(to)} already")
        return
    held = sum(1 for index in stacks.values() if index == to)
    if held >= MAX_JOBS_PER_STACK:
        print_error(f"{stack_id(to)} holds {held} jobs already; at most {MAX_JOBS_PER_STACK} fit")
        raise typer.Exit(USAGE_ERROR)
    stacks[named.name] = to
    write_lock(_lock(environment), environment.name, stacks)
    lock_file = display_path(_lock(environment))
    if named.name in placement.added:  # not deployed yet: placing it moves nothing
        say(f"{lock_file}: placed the new job {named.name} in {stack_id(to)}; commit it.")
    else:
        say(
            f"{lock_file}: moved {named.name} from {stack_id(before)} to {stack_id(to)}; commit it."
        )
        say(MOVE_WARNING)
    others = tuple(other for other in placement.added if other != named.name)
    rest = Placement(stacks, others, placement.removed)
    if rest.changed:
        say(f"It also brought the lock file up to date: {rest.summary()}")
