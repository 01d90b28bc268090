"""Missed slots on the real engine: the synthesized state machine with the real guard code,
the slot watch's manifest from the cloud assembly, and the real slot-watch code.

A trigger that never arrives is detected and recorded MISSED once; catch_up starts it, the
guard runs it (MISSED turns into a run), and Scheduler's late delivery of the same slot is
then a duplicate.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cronguard.config import Environment
from cronguard_simulation.scenario import deployed_manifest, watch_job
from lambdas.core.execution_contract import CATCH_UP, replay_names
from lambdas.core.ledger_contract import CATCH_UP_EXECUTION, STATUS, Status
from lambdas.core.times import slot_time
from tests.e2e.conftest import Engine, Slot

JOB = "forbid-job"


def test_a_trigger_never_delivered_is_reported_caught_up_once_and_deduplicated_later(
    engine: Engine, slot: Slot, synthesized: tuple[Environment, Path]
) -> None:
    environment, assembly = synthesized
    manifest = deployed_manifest(assembly, environment.stack_name)
    (forbid,) = [job for job in manifest.jobs if job.name == JOB]
    assert forbid.catch_up is None  # as configured; this test turns catch_up on
    watched = replace(forbid, catch_up=timedelta(hours=6))
    state_machine = engine.arn(JOB)

    def check(now_slot: str, minutes: int) -> list[str]:
        now = slot_time(now_slot)
        assert now is not None
        report = watch_job(engine.local, manifest, watched, now + timedelta(minutes=minutes))
        return report.caught_up

    def finish(missed: str) -> None:
        """The catch-up run ended, and it ran: MISSED turned into a real run."""
        name = replay_names(CATCH_UP, missed)[0]
        execution = f"{state_machine.replace(':stateMachine:', ':execution:')}:{name}"
        assert engine.aws.wait(execution, timeout=60)["status"] == "SUCCEEDED"
        record = engine.slot(JOB, missed)
        assert record is not None and record[STATUS]["S"] == Status.SUCCEEDED
        assert CATCH_UP_EXECUTION not in record  # the run's record replaced MISSED

    # The schedule delivered slot -3 (Scheduler's anchor for this rate job), then nothing.
    delivered = engine.run(JOB, "scheduled-3", {"scheduledTime": slot(-3), "attempt": "1"})
    assert delivered["status"] == "SUCCEEDED"
    assert check(slot(-3), 10) == []  # the watch starts watching the job
    # Two hours later: slots -2 and -1 never reached the guard. Catch-up starts one per
    # check, the oldest first.
    assert check(slot(-1), 10) == [slot(-2)]
    waiting = engine.slot(JOB, slot(-1))
    assert waiting is not None and waiting[STATUS]["S"] == Status.MISSED
    finish(slot(-2))
    assert check(slot(-1), 15) == [slot(-1)]
    finish(slot(-1))
    # Scheduler's own delivery of slot -1 finally arrives: the guard deduplicates it.
    late = engine.run(JOB, "scheduled-late", {"scheduledTime": slot(-1), "attempt": "7"})
    assert late["status"] == "SUCCEEDED"
    assert engine.final_state(late["executionArn"]) == "Skipped: duplicate"
    # Nothing is reported or started twice.
    assert check(slot(-1), 20) == []
    assert check(slot(-1), 25) == []
    assert len(engine.aws.tasks_started(engine.task_definition(JOB))) == 3


def test_a_catch_up_that_ended_before_claiming_its_slot_is_started_again_under_its_next_name(
    engine: Engine, slot: Slot, synthesized: tuple[Environment, Path]
) -> None:
    environment, assembly = synthesized
    manifest = deployed_manifest(assembly, environment.stack_name)
    (forbid,) = [job for job in manifest.jobs if job.name == JOB]
    watched = replace(forbid, catch_up=timedelta(hours=6))
    first = replay_names(CATCH_UP, slot(-2))[0]
    executions = engine.arn(JOB).replace(":stateMachine:", ":execution:") + ":"

    def check(now_slot: str, minutes: int) -> list[str]:
        now = slot_time(now_slot)
        assert now is not None
        report = watch_job(engine.local, manifest, watched, now + timedelta(minutes=minutes))
        return report.caught_up

    engine.fail_claim_of(JOB, first)
    assert engine.run(JOB, "scheduled-3", {"scheduledTime": slot(-3)})["status"] == "SUCCEEDED"
    check(slot(-3), 10)  # the watch starts watching the job
    assert check(slot(-1), 10) == [slot(-2)]  # -2 and -1 missed: the oldest is started
    assert engine.aws.wait(executions + first)["status"] == "FAILED"
    record = engine.slot(JOB, slot(-2))
    assert record is not None and record[STATUS]["S"] == Status.MISSED  # never claimed

    assert check(slot(-1), 15) == [slot(-2)]  # started again, before the next slot
    again = engine.aws.wait(executions + first + "-2")
    assert again["status"] == "SUCCEEDED"
    record = engine.slot(JOB, slot(-2))
    assert record is not None and record[STATUS]["S"] == Status.SUCCEEDED
    assert record["owner"]["S"] == again["executionArn"]
