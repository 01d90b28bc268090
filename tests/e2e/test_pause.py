"""Pause and resume on the real engine: the synthesized state machine with the real guard code,
the pause record written by ``cronguard pause``/``resume``'s own code, and the real slot watch.

A paused job's trigger ends in ``Skipped: paused`` and its slot is recorded
``SKIPPED_PAUSED`` with the reason; after the resume the next trigger runs. The slot watch
does not report the skipped slot as missed: it has a record.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import boto3

from cronguard.config import Environment
from cronguard.operations import pause as pause_command
from cronguard.operations.environment import Operations
from cronguard_simulation.scenario import deployed_manifest, watch_job
from lambdas.core.execution_contract import CATCH_UP, replay_names
from lambdas.core.ledger_contract import REASON, STATUS, Status
from lambdas.core.times import slot_time
from lambdas.slot_watch.handler import JobReport
from tests.e2e.conftest import Engine, Slot

JOB = "forbid-job"
REASON_TEXT = "warehouse migration"


def test_a_paused_job_skips_its_trigger_and_runs_again_once_resumed(
    engine: Engine, slot: Slot, synthesized: tuple[Environment, Path]
) -> None:
    environment, assembly = synthesized
    job = environment.job(JOB)
    ops = Operations(environment, session=boto3.Session(region_name=engine.aws.region))
    manifest = deployed_manifest(assembly, environment.stack_name)
    (watched,) = [watched for watched in manifest.jobs if watched.name == JOB]

    def check(now_slot: str, minutes: int) -> JobReport:
        now = slot_time(now_slot)
        assert now is not None
        return watch_job(engine.local, manifest, watched, now + timedelta(minutes=minutes))

    def tasks() -> int:
        return len(engine.aws.tasks_started(engine.task_definition(JOB)))

    # The schedule delivered slot -3 (Scheduler's anchor for this rate job); the slot watch
    # watches the job from then on.
    assert engine.run(JOB, "scheduled-3", {"scheduledTime": slot(-3)})["status"] == "SUCCEEDED"
    check(slot(-3), 10)

    assert pause_command.pause(ops, job, REASON_TEXT).changed
    paused = engine.run(JOB, "scheduled-2", {"scheduledTime": slot(-2), "attempt": "1"})
    assert paused["status"] == "SUCCEEDED"
    assert engine.final_state(paused["executionArn"]) == "Skipped: paused"
    answer = engine.output(paused["executionArn"])
    assert (answer["action"], answer["reason"]) == ("skip", "paused")
    assert REASON_TEXT in answer["detail"]
    record = engine.slot(JOB, slot(-2))
    assert record is not None and record[STATUS]["S"] == Status.SKIPPED_PAUSED
    assert REASON_TEXT in record[REASON]["S"]
    assert tasks() == 1  # slot -3's only
    assert engine.lease(JOB) is None

    assert pause_command.resume(ops, job).changed
    resumed = engine.run(JOB, "scheduled-1", {"scheduledTime": slot(-1), "attempt": "1"})
    assert engine.final_state(resumed["executionArn"]) == "Succeeded"
    record = engine.slot(JOB, slot(-1))
    assert record is not None and record[STATUS]["S"] == Status.SUCCEEDED
    assert tasks() == 2

    # The pause was written after slot -2's time, so its period does not cover that slot:
    # what keeps the slot watch from reporting it missed is its SKIPPED_PAUSED record.
    pause = pause_command.read(ops, job)
    slot_2 = slot_time(slot(-2))
    assert slot_2 is not None and not pause.covers(slot_2)
    report = check(slot(-1), 10)
    assert (report.missed, report.paused, report.silent) == ([], [], False)

    # Scheduler's late retry of the skipped slot is a duplicate: the skip consumed the slot.
    late = engine.run(JOB, "scheduled-2-late", {"scheduledTime": slot(-2), "attempt": "3"})
    assert engine.final_state(late["executionArn"]) == "Skipped: duplicate"
    assert tasks() == 2


def test_a_slot_missed_before_a_pause_is_not_caught_up_during_it_but_after_the_resume(
    engine: Engine, slot: Slot, synthesized: tuple[Environment, Path]
) -> None:
    environment, assembly = synthesized
    job = environment.job(JOB)
    ops = Operations(environment, session=boto3.Session(region_name=engine.aws.region))
    manifest = deployed_manifest(assembly, environment.stack_name)
    (watched,) = [watched for watched in manifest.jobs if watched.name == JOB]
    watched = replace(watched, catch_up=timedelta(hours=6))  # the watch starts missed slots

    def check(now_slot: str, minutes: int) -> JobReport:
        now = slot_time(now_slot)
        assert now is not None
        return watch_job(engine.local, manifest, watched, now + timedelta(minutes=minutes))

    catch_up = engine.arn(JOB).replace(":stateMachine:", ":execution:") + ":"
    catch_up += replay_names(CATCH_UP, slot(-2))[0]

    assert engine.run(JOB, "scheduled-3", {"scheduledTime": slot(-3)})["status"] == "SUCCEEDED"
    check(slot(-3), 10)
    # Slots -2 and -1 were never delivered; the job is paused before the watch finds them.
    assert pause_command.pause(ops, job, REASON_TEXT).changed
    during = check(slot(-1), 10)
    assert during.missed == [slot(-2), slot(-1)]
    assert during.caught_up == []  # not started into the pause: it would be skipped for good
    for missed in (slot(-2), slot(-1)):
        record = engine.slot(JOB, missed)
        assert record is not None and record[STATUS]["S"] == Status.MISSED
    assert len(engine.aws.sfn.list_executions(stateMachineArn=engine.arn(JOB))["executions"]) == 1

    assert pause_command.resume(ops, job).changed
    after = check(slot(-1), 15)
    assert after.caught_up == [slot(-2)]  # the oldest first, within its window
    assert engine.aws.wait(catch_up)["status"] == "SUCCEEDED"
    record = engine.slot(JOB, slot(-2))
    assert record is not None and record[STATUS]["S"] == Status.SUCCEEDED
