"""End to end with sidecars: a job container beside an essential agent and a collector,
sharing a scratch volume. ECS may list a task's containers in any order (the local engine
lists the sidecars first); the ledger's exit code is always the job container's, found by
name, and an essential sidecar that stops the task is named as the reason."""

from __future__ import annotations

from cronguard_simulation.engine import TaskScript
from lambdas.core import errors
from tests.e2e.conftest import Engine, Slot

JOB = "sidecar-job"


def test_the_task_lists_the_sidecars_first_and_a_clean_run_records_the_jobs_exit(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.script_tasks(engine.task_definition(JOB), TaskScript())
    described = engine.run(JOB, "clean", {"scheduledTime": slot()})
    assert described["status"] == "SUCCEEDED"
    (task,) = engine.aws.tasks_started(engine.task_definition(JOB))
    assert list(task.container_exit_codes) == ["agent", "collector", "job"]
    item = engine.slot(JOB, slot())
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("SUCCEEDED", "0")


def test_a_sidecar_exiting_non_zero_leaves_the_jobs_exit_code_in_the_ledger(
    engine: Engine, slot: Slot
) -> None:
    # The collector (not essential) exits 1 as the task stops: Step Functions fails the task,
    # and the ledger still says the job exited 0.
    engine.aws.script_tasks(
        engine.task_definition(JOB), TaskScript(sidecar_exit_codes={"collector": 1})
    )
    described = engine.run(JOB, "noisy-sidecar", {"scheduledTime": slot()})
    assert (described["status"], described["error"]) == ("FAILED", errors.JOB_FAILED)
    item = engine.slot(JOB, slot())
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("FAILED", "0")
    assert item["reason"]["S"] == "job exited 0, but container collector exited 1"


def test_an_essential_sidecars_exit_fails_the_run_with_that_reason(
    engine: Engine, slot: Slot
) -> None:
    # The agent exits 2 on its own; ECS stops the job container (SIGTERM, 143) with it.
    engine.aws.script_tasks(
        engine.task_definition(JOB),
        TaskScript(ended_by="agent", sidecar_exit_codes={"agent": 2}),
    )
    described = engine.run(JOB, "agent-exits", {"scheduledTime": slot()})
    assert (described["status"], described["error"]) == ("FAILED", errors.JOB_FAILED)
    item = engine.slot(JOB, slot())
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("FAILED", "143")
    assert item["reason"]["S"] == "essential container agent exited 2"
    (task,) = engine.aws.tasks_started(engine.task_definition(JOB))
    assert task.container_exit_codes == {"agent": 2, "collector": 0, "job": 143}
    assert engine.lease(JOB) is None
