"""``cronguard stacks``: assign writes the lock file, move is the one deliberate way a placed
job changes its job stack, and says what that does at deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cronguard.cli.stacks import app
from cronguard.config import load_environment
from cronguard.config.placement import MAX_JOBS_PER_STACK, lock_path
from testkit.generated import ENVIRONMENT, generated_jobs, write_config

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_config(tmp_path, generated_jobs(72), job_stacks=2)
    monkeypatch.setenv("CRONGUARD_CONFIG", str(root))
    return root


def invoke(*args: str) -> Any:
    return runner.invoke(app, [*args, "--env", ENVIRONMENT], env={"COLUMNS": "200"})


def test_assign_writes_the_lock_file_and_then_finds_it_up_to_date(config: Path) -> None:
    lock = lock_path(config, ENVIRONMENT)
    first = invoke("assign")
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"{lock}: placed 72 new job(s): ")
    assert first.output.rstrip().endswith("; commit it")
    assert lock.exists() and not load_environment(ENVIRONMENT, config).placement().changed
    again = invoke("assign")
    assert again.exit_code == 0 and again.output == f"{lock}: up to date\n"


def test_move_changes_only_that_job_and_warns_what_it_does_at_deploy(config: Path) -> None:
    invoke("assign")
    before = load_environment(ENVIRONMENT, config).placement().stacks
    job = next(name for name, index in before.items() if index == 0)
    result = invoke("move", job, "--to", "5")
    assert result.exit_code == 0, result.output
    assert f"moved {job} from Jobs00 to Jobs05; commit it." in result.output
    assert "Move in two deploys" in " ".join(result.output.split())
    after = load_environment(ENVIRONMENT, config).placement()  # the seal matches: no error
    assert after.stacks == {**before, job: 5} and not after.changed


def test_move_into_a_full_stack_is_refused(config: Path) -> None:
    invoke("assign")
    stacks = load_environment(ENVIRONMENT, config).placement().stacks
    full = [index for index in set(stacks.values()) if list(stacks.values()).count(index) == 35]
    job = next(name for name, index in stacks.items() if index != full[0])
    result = invoke("move", job, "--to", str(full[0]))
    assert result.exit_code == 2
    assert f"holds {MAX_JOBS_PER_STACK} jobs already" in result.output
    assert load_environment(ENVIRONMENT, config).placement().stacks == stacks


def test_move_help_warns_that_a_move_deletes_and_recreates_the_job() -> None:
    result = runner.invoke(app, ["move", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "deletes the job's resources" in text
    assert "the create fails while the old stack still holds the state machine" in text
    assert "a run in progress is stopped and recorded as a removed job's" in text


def test_list_shows_each_stack_with_its_jobs_and_room(config: Path) -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert "Jobs00" in result.output and "Jobs02" in result.output  # 2 full, 1 opened
    assert "(new)" in result.output and "to place 72 new job(s)" in result.output


def test_moving_a_job_not_yet_placed_just_places_it(config: Path) -> None:
    result = invoke("move", "job-000", "--to", "7")
    assert result.exit_code == 0, result.output
    assert "placed the new job job-000 in Jobs07; commit it." in result.output
    assert "Move in two deploys" not in " ".join(result.output.split())
    assert "brought the lock file up to date: placed 71 new job(s)" in result.output
    assert load_environment(ENVIRONMENT, config).placement().stacks["job-000"] == 7
