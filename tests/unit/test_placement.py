"""Job stack placement: the lock file is the source of truth, and nothing but a deliberate
move ever changes a placed job's stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

import app as cdk_app
from cronguard.config import ConfigError, known_environments, load_environment
from cronguard.config.loader import record_job_stacks
from cronguard.config.placement import (
    MAX_JOB_STACKS,
    MAX_JOBS_PER_STACK,
    PlacementError,
    assign,
    hashed_stack,
    lock_path,
    render_lock,
)
from testkit.generated import ENVIRONMENT, generated_jobs, write_config
from tests.configs import REPOSITORY_CONFIG

LOCK = f"environments/{ENVIRONMENT}.stacks.json"


def names(count: int) -> list[str]:
    return list(generated_jobs(count))


def lock_of(root: Path) -> dict[str, dict[str, object]]:
    entries: dict[str, dict[str, object]] = json.loads((root / LOCK).read_text())["jobs"]
    return entries


def locked(tmp_path: Path, count: int = 40, **settings: Any) -> Path:
    """A config of ``count`` generated jobs whose lock file synth has written."""
    root = write_config(tmp_path, generated_jobs(count), **settings)
    assert record_job_stacks(load_environment(ENVIRONMENT, root), root, strict=False)
    return root


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_environment(ENVIRONMENT, root)
    return [str(problem) for problem in error.value.problems]


def test_without_a_lock_file_every_job_is_where_the_hash_of_its_name_put_it() -> None:
    jobs = names(250)  # no hash bucket of 32 gets more than 35 of these
    placed = assign(jobs, {}, 32)
    assert placed.stacks == {job: hashed_stack(job, 32) for job in jobs}
    assert placed.added == tuple(sorted(jobs)) and placed.removed == ()


def test_a_new_job_whose_hashed_stack_is_full_goes_to_the_first_stack_with_room() -> None:
    full = {f"full-{i}": 0 for i in range(MAX_JOBS_PER_STACK)}
    job = next(name for name in names(100) if hashed_stack(name, 4) == 0)
    placed = assign([*full, job], full, 4)
    assert placed.stacks[job] == 1
    assert {name: placed.stacks[name] for name in full} == full


def test_when_every_stack_is_full_a_new_one_is_opened() -> None:
    recorded = {f"j{s}-{i}": s for s in range(2) for i in range(MAX_JOBS_PER_STACK)}
    placed = assign([*recorded, "newcomer"], recorded, 2)
    assert placed.stacks["newcomer"] == 2
    assert placed.added == ("newcomer",)


def test_a_removed_job_frees_its_place_and_nothing_else_moves() -> None:
    recorded = {f"j{s}-{i}": s for s in range(2) for i in range(MAX_JOBS_PER_STACK)}
    remaining = [job for job in recorded if job != "j0-7"]
    placed = assign([*remaining, "newcomer"], recorded, 2)
    assert placed.removed == ("j0-7",)
    assert placed.stacks["newcomer"] == 0  # the freed place, not a new stack
    assert all(placed.stacks[job] == recorded[job] for job in remaining)


def test_placement_depends_on_the_set_of_jobs_not_their_order() -> None:
    jobs = names(300)
    assert assign(jobs, {}, 3).stacks == assign(reversed(jobs), {}, 3).stacks


def test_more_jobs_than_every_job_stack_holds_are_refused() -> None:
    recorded = {
        f"j{i}": i // MAX_JOBS_PER_STACK for i in range(MAX_JOB_STACKS * MAX_JOBS_PER_STACK)
    }
    with pytest.raises(PlacementError, match="do not fit 400 job stacks of 35"):
        assign([*recorded, "one-more"], recorded, 32)


def test_synth_writes_the_lock_file_once_and_then_finds_it_up_to_date(tmp_path: Path) -> None:
    root = locked(tmp_path)
    text = (root / LOCK).read_text()
    environment = load_environment(ENVIRONMENT, root)
    assert record_job_stacks(environment, root, strict=True) is None
    assert render_lock(ENVIRONMENT, environment.placement().stacks) == text
    assert len(lock_of(root)) == 40


def test_strict_synth_refuses_a_missing_or_stale_lock_file_and_names_the_command(
    tmp_path: Path,
) -> None:
    root = write_config(tmp_path, generated_jobs(3))
    environment = load_environment(ENVIRONMENT, root)
    with pytest.raises(ConfigError) as error:
        record_job_stacks(environment, root, strict=True)
    placed = ", ".join(f"{job} (Jobs{hashed_stack(job, 32):02d})" for job in generated_jobs(3))
    assert [str(problem) for problem in error.value.problems] == [
        f"{root / LOCK}: is missing (to place 3 new job(s): {placed}): run `cronguard stacks "
        "assign --env big` and commit it (synth writes it only outside CI)"
    ]
    assert not (root / LOCK).exists()

    record_job_stacks(environment, root, strict=False)
    write_config(root, generated_jobs(2))
    with pytest.raises(ConfigError, match=r"is out of date \(to free the place of 1 removed: "):
        record_job_stacks(load_environment(ENVIRONMENT, root), root, strict=True)


def test_a_job_moved_by_hand_in_the_lock_file_names_the_job_and_both_stacks(
    tmp_path: Path,
) -> None:
    root = locked(tmp_path)
    before = lock_of(root)["job-007"]["stack"]
    text = (root / LOCK).read_text()
    edited = re.sub(r'("job-007": \{"stack": )\d+', r"\g<1>30", text)
    (root / LOCK).write_text(edited)
    assert problems(root) == [
        f"{root / LOCK}: job 'job-007': moved by hand from stack {before} (Jobs{before:02d}) "
        "to 30 (Jobs30): a move deletes and re-creates the job at deploy, so synth does not "
        f"take it from an edit; put it back to {before}, or run `cronguard stacks move "
        "job-007 --to 30 --env big`"
    ]


def test_an_entry_whose_seal_matches_no_stack_is_refused(tmp_path: Path) -> None:
    root = locked(tmp_path)
    edited = re.sub(
        r'("job-003": \{"stack": \d+, "seal": ")\w+', r"\g<1>0000000000", (root / LOCK).read_text()
    )
    (root / LOCK).write_text(edited)
    (problem,) = problems(root)
    assert "job 'job-003'" in problem and "its seal matches no stack" in problem


def test_a_lock_file_with_an_over_full_stack_is_refused(tmp_path: Path) -> None:
    # Say two branches each placed jobs in the last free places of one stack, and merged.
    root = locked(tmp_path)
    stacks = load_environment(ENVIRONMENT, root).placement().stacks
    crowded = {job: 0 for job in stacks} | {f"extra-{i}": 0 for i in range(MAX_JOBS_PER_STACK)}
    (root / LOCK).write_text(render_lock(ENVIRONMENT, crowded))
    assert problems(root) == [
        f"{root / LOCK}: Jobs00 holds {len(crowded)} jobs; at most 35 fit a job stack: move "
        "the jobs placed there last with `cronguard stacks move`"
    ]


def test_a_lock_file_that_is_not_one_is_refused_with_the_way_back(tmp_path: Path) -> None:
    root = locked(tmp_path)
    (root / LOCK).write_text("{not json")
    (problem,) = problems(root)
    assert problem.startswith(f"{root / LOCK}: cannot read the lock file: ")
    assert problem.endswith("restore it from git")


def test_the_committed_lock_files_match_the_example_configs() -> None:
    # make demo and CI synthesize with CI=true: a lock file behind its config fails them.
    for name in known_environments(REPOSITORY_CONFIG):
        environment = load_environment(name, REPOSITORY_CONFIG)
        assert lock_path(REPOSITORY_CONFIG, name).exists(), name
        assert not environment.placement().changed, (name, environment.placement().summary())


@pytest.mark.parametrize(
    ("ci", "context", "strict"),
    [
        ("true", {}, True),
        ("", {}, False),
        ("false", {}, False),
        ("", {"strict": "true"}, True),
        ("true", {"strict": "false"}, False),  # a generated config (bench/cdk_app.py)
    ],
)
def test_synth_is_strict_in_ci_unless_the_context_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, ci: str, context: dict[str, str], strict: bool
) -> None:
    monkeypatch.setenv("CI", ci)
    assert cdk_app.strict(cdk.App(context=context)) is strict
