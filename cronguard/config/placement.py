"""Which job stack each job lives in: recorded once, in a lock file, and never changed by synth.

Jobs live in nested *job stacks* of the environment's stack (CloudFormation allows 500
resources per stack; a job is 10). Moving a job to another job stack deletes its resources
in one stack and creates them in another: its state machine's name and its SSM parameter's
name are fixed, so the create fails while the old stack still holds them, and deleting a
state machine ends its runs in progress. So once placed, a job stays where it is.

``config/environments/<env>.stacks.json`` (the *lock file*) records each job's job stack and
is the source of truth, committed and reviewed like ``cdk.context.json``. ``assign`` keeps
every recorded job where it is, frees the place of a removed one, and places each new job:
in the stack its name hashes to among the first ``job_stacks`` if that has room (so an
environment without a lock file gets exactly the hash placement it had before there were
lock files), else in the lowest-numbered stack with room, else in a newly opened stack.

Each entry carries a *seal*, a short hash of environment, job and stack, written by the
tools that place or move a job. An entry changed by hand no longer matches its seal, and the
seal still says which stack the job was in: the loader names both instead of moving the job.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Each job is 10 resources, plus 4 its job stack's jobs share: 35 jobs are 354 of
# CloudFormation's 500 per stack, and about 730 KB of the 1 MB a template may be.
MAX_JOBS_PER_STACK = 35
DEFAULT_JOB_STACKS = 32
# The environment's stack holds one resource per job stack beside about 50 of its own.
MAX_JOB_STACKS = 400
LOCK_SUFFIX = ".stacks.json"
LOCK_NOTE = (
    "The nested job stack (JobsNN) of each job of environment {env}. Written by synth and "
    "`cronguard stacks assign`; commit it. Do not edit it by hand: moving a job deletes and "
    "re-creates it at deploy (see `cronguard stacks move --help`)."
)


def stack_id(index: int) -> str:
    """A job stack's construct and logical ID: ``Jobs03``."""
    return f"Jobs{index:02d}"


def hashed_stack(job: str, job_stacks: int) -> int:
    """The stack a job's name hashes to among ``job_stacks``: where a new job goes first."""
    digest = hashlib.sha256(job.encode()).digest()
    return int.from_bytes(digest[:8], "big") % job_stacks


def seal(environment: str, job: str, stack: int) -> str:
    return hashlib.sha256(f"{environment}/{job}/{stack}".encode()).hexdigest()[:10]


def sealed_stack(environment: str, job: str, sealed: str) -> int | None:
    """The stack ``sealed`` was written for, if any: where a hand-edited job really is."""
    return next(
        (index for index in range(MAX_JOB_STACKS) if seal(environment, job, index) == sealed),
        None,
    )


@dataclass(frozen=True)
class Placement:
    """Every job's stack (``stacks``), and how that differs from the lock file it came from."""

    stacks: dict[str, int]
    added: tuple[str, ...] = ()  # jobs placed now, not yet in the lock file
    removed: tuple[str, ...] = ()  # jobs in the lock file that config no longer has

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def by_stack(self) -> dict[int, list[str]]:
        grouped: dict[int, list[str]] = {}
        for job, index in self.stacks.items():
            grouped.setdefault(index, []).append(job)
        return dict(sorted(grouped.items()))

    def summary(self, *, written: bool = True, shown: int = 5) -> str:
        """What changed (``written``) or is to change, in a line:
        ``placed 2 new job(s): a (Jobs03), b (Jobs07); freed the place of 1: c``."""

        def names(jobs: tuple[str, ...], placed: bool) -> str:
            listed = [
                f"{job} ({stack_id(self.stacks[job])})" if placed else job for job in jobs[:shown]
            ]
            more = f" and {len(jobs) - shown} more" if len(jobs) > shown else ""
            return ", ".join(listed) + more

        place, free = ("placed", "freed") if written else ("to place", "to free")
        parts = []
        if self.added:
            parts.append(f"{place} {len(self.added)} new job(s): {names(self.added, True)}")
        if self.removed:
            parts.append(
                f"{free} the place of {len(self.removed)} removed: {names(self.removed, False)}"
            )
        return "; ".join(parts) or "up to date"


class PlacementError(ValueError):
    """More jobs than the job stacks can hold."""


def assign(jobs: Iterable[str], recorded: Mapping[str, int], job_stacks: int) -> Placement:
    """Keep every recorded job where it is and place the new ones (in name order, so the
    result depends on the set of jobs only)."""
    names = list(dict.fromkeys(jobs))
    present = set(names)
    stacks = {job: index for job, index in recorded.items() if job in present}
    filled = Counter(stacks.values())
    opened = max(job_stacks, max(stacks.values(), default=-1) + 1)
    added = sorted(job for job in names if job not in stacks)
    for job in added:
        index = hashed_stack(job, job_stacks)
        if filled[index] >= MAX_JOBS_PER_STACK:
            index = next((i for i in range(opened) if filled[i] < MAX_JOBS_PER_STACK), opened)
            opened = max(opened, index + 1)
        if index >= MAX_JOB_STACKS:
            raise PlacementError(
                f"{len(names)} jobs do not fit {MAX_JOB_STACKS} job stacks of "
                f"{MAX_JOBS_PER_STACK}: split the environment"
            )
        stacks[job] = index
        filled[index] += 1
    ordered = {job: stacks[job] for job in sorted(stacks)}
    removed = tuple(sorted(set(recorded) - present))
    return Placement(ordered, tuple(added), removed)


def lock_path(config_dir: Path, environment: str) -> Path:
    return config_dir / "environments" / f"{environment}{LOCK_SUFFIX}"


def render_lock(environment: str, stacks: Mapping[str, int]) -> str:
    """The lock file's text: one job a line, sorted, so a change reads as a one-line diff."""
    rows = ",\n".join(
        f'    {json.dumps(job)}: {{"stack": {index}, "seal": "{seal(environment, job, index)}"}}'
        for job, index in sorted(stacks.items())
    )
    note = json.dumps(LOCK_NOTE.format(env=environment))
    body = f"{{\n{rows}\n  }}" if rows else "{}"
    return f'{{\n  "//": {note},\n  "jobs": {body}\n}}\n'


def write_lock(path: Path, environment: str, stacks: Mapping[str, int]) -> None:
    path.write_text(render_lock(environment, stacks), encoding="utf-8")


@dataclass(frozen=True)
class LockProblem:
    message: str
    job: str | None = None


def read_lock(path: Path, environment: str) -> tuple[dict[str, int], list[LockProblem]]:
    """The recorded stacks of a lock file (empty when there is none), and its problems:
    a file that is not a lock file, an entry edited by hand, a stack over-full."""
    if not path.exists():
        return {}, []
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {}, [LockProblem(f"cannot read the lock file: {error}; restore it from git")]
    entries = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}, [LockProblem('not a lock file: expected {"jobs": {<job>: {"stack": N}}}')]
    recorded: dict[str, int] = {}
    problems = []
    for job, entry in entries.items():
        index = entry.get("stack") if isinstance(entry, dict) else None
        sealed = entry.get("seal") if isinstance(entry, dict) else None
        if not isinstance(index, int) or isinstance(index, bool):
            problems.append(LockProblem('expected {"stack": N, "seal": "..."}', job))
            continue
        if sealed != seal(environment, job, index):
            problems.append(LockProblem(_hand_edit(environment, job, index, sealed), job))
            continue
        recorded[job] = index
    for index, count in sorted(Counter(recorded.values()).items()):
        if count > MAX_JOBS_PER_STACK:
            problems.append(
                LockProblem(
                    f"{stack_id(index)} holds {count} jobs; at most {MAX_JOBS_PER_STACK} fit a "
                    "job stack: move the jobs placed there last with `cronguard stacks move`"
                )
            )
    return recorded, problems


def _hand_edit(environment: str, job: str, index: int, sealed: Any) -> str:
    before = sealed_stack(environment, job, sealed) if isinstance(sealed, str) else None
    move = f"`cronguard stacks move {job} --to {index} --env {environment}`"
    if before is None:
        return (
            f"stack {index} ({stack_id(index)}) is not where cronguard placed it (its seal "
            f"matches no stack): restore the entry from git, or move the job with {move}"
        )
    return (
        f"moved by hand from stack {before} ({stack_id(before)}) to {index} "
        f"({stack_id(index)}): a move deletes and re-creates the job at deploy, so synth "
        f"does not take it from an edit; put it back to {before}, or run {move}"
    )
