"""A renamed job (``renamed_from``) cannot overlap its old self: the guard reads the old name's
lease and slot with its own, and its claim checks the old lease in the same transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from lambdas.cleanup.handler import reconcile
from lambdas.core.guard_contract import Concurrency
from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import (
    HOLDER,
    LEASE_SORT_KEY,
    OWNER,
    REASON,
    STATUS,
    Status,
    slot_sort_key,
)
from lambdas.core.trigger import parse_trigger
from lambdas.guard.decision import Decision, Verdict
from lambdas.guard.executions import Executions
from lambdas.guard.handler import Guard, JobSettings
from tests.lambdas.conftest import CONTAINER, FAMILY, REPORT, TABLE, Aws, RecordingClient
from tests.lambdas.test_cleanup import being_deleted
from tests.lambdas.test_guard_handler import NEXT_SLOT, SLOT, job, scheduled

OLD = "old-report"
LATER_SLOT = "2026-11-22T05:00:00Z"


OLD_FAMILY = FAMILY.removesuffix("report") + OLD  # the old name's rendered task definition


def old_job(concurrency: Concurrency = Concurrency.FORBID) -> JobSettings:
    return replace(job(concurrency), name=OLD, task_family=OLD_FAMILY)


def renamed(concurrency: Concurrency = Concurrency.FORBID) -> JobSettings:
    return replace(job(concurrency), renamed_from=OLD)


def decide(
    aws: Aws,
    settings: JobSettings,
    slot: str,
    name: str,
    guard: Guard | None = None,
    machine: str | None = None,
) -> tuple[str, Decision]:
    execution = aws.start(name, machine)
    trigger = parse_trigger(scheduled(slot), name)
    return execution, (guard or aws.guard()).run_or_skip(settings, trigger, execution)


def test_a_renamed_jobs_slot_is_an_overlap_while_its_old_names_run_holds_the_lease(
    aws: Aws,
) -> None:
    old_run, old_decision = decide(aws, old_job(), SLOT, "old-run")
    assert old_decision.verdict is Verdict.RUN

    _, decision = decide(aws, renamed(), NEXT_SLOT, "renamed-first")

    assert decision.verdict is Verdict.OVERLAP
    assert decision.reason == (
        f"run {old_run} (slot {SLOT}) of {OLD}, this job's name before the rename, still "
        "holds its lease"
    )
    skipped = aws.item(slot_sort_key(NEXT_SLOT))
    assert skipped is not None and skipped[STATUS]["S"] == Status.SKIPPED_OVERLAP
    assert aws.item(LEASE_SORT_KEY) is None  # the new name took nothing


def test_a_renamed_job_runs_once_the_cleanup_settled_its_old_names_run(aws: Aws) -> None:
    aws.task_definition(OLD_FAMILY, CONTAINER)
    old_machine = aws.state_machine({**REPORT, "name": OLD, "taskFamily": OLD_FAMILY})
    old_run, _ = decide(aws, old_job(), SLOT, "old-run", machine=old_machine)
    task_arn = aws.run_task(old_run, family=OLD_FAMILY)
    being_deleted(aws, old_machine)  # the rename's deploy deleted the old machine

    assert reconcile(aws.dynamodb, TABLE, aws.cleanup())["fixed"] == 1
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    assert aws.item(LEASE_SORT_KEY, job=OLD) is None

    runner, decision = decide(aws, renamed(), NEXT_SLOT, "renamed-runs")
    assert decision.verdict is Verdict.RUN
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == runner


def test_an_expired_old_lease_does_not_hold_the_renamed_job_back(aws: Aws) -> None:
    decide(aws, replace(old_job(), lease=timedelta(seconds=0)), SLOT, "old-run")
    assert decide(aws, renamed(), NEXT_SLOT, "renamed")[1].verdict is Verdict.RUN


def test_a_slot_the_old_name_ran_is_a_duplicate_for_the_renamed_job(aws: Aws) -> None:
    old_run, _ = decide(aws, old_job(Concurrency.ALLOW), SLOT, "old-run")

    _, decision = decide(aws, renamed(), SLOT, "late-delivery")

    assert decision.verdict is Verdict.DUPLICATE
    assert decision.reason == (
        f"slot already taken by {old_run} (running) as {OLD}, this job's name before the rename"
    )
    assert aws.item(slot_sort_key(SLOT)) is None  # nothing written under the new name


def test_a_forced_run_of_a_slot_the_old_name_ran_runs_under_the_new_name(aws: Aws) -> None:
    decide(aws, old_job(Concurrency.ALLOW), SLOT, "old-run")
    execution = aws.start("forced")
    trigger = parse_trigger(scheduled(SLOT, force=True), "forced")
    assert aws.guard().run_or_skip(renamed(Concurrency.ALLOW), trigger, execution).verdict is (
        Verdict.RUN
    )


def test_allow_runs_beside_the_old_names_run(aws: Aws) -> None:
    decide(aws, old_job(), SLOT, "old-run")
    assert decide(aws, renamed(Concurrency.ALLOW), NEXT_SLOT, "allowed")[1].verdict is (Verdict.RUN)


@pytest.mark.parametrize("returns_items", [True, False], ids=["items-returned", "no-items"])
def test_an_old_name_run_claimed_after_the_renamed_guard_read_the_ledger_fails_its_claim(
    aws: Aws, returns_items: bool
) -> None:
    """During the rename's deploy both schedules exist: the old name's run may take its lease
    between the renamed guard's read and its claim. The claim's check of the old lease fails,
    the guard reads again and skips."""
    old_run = aws.start("old-run")

    def old_name_claims() -> None:
        trigger = parse_trigger(scheduled(SLOT), "old-run")
        assert aws.guard().run_or_skip(old_job(), trigger, old_run).verdict is Verdict.RUN

    client = RecordingClient(
        aws.dynamodb, returns_items=returns_items, before_write=old_name_claims
    )
    guard = Guard(LedgerTable(client, TABLE), Executions(aws.sfn), aws.tasks())

    _, decision = decide(aws, renamed(), NEXT_SLOT, "renamed", guard)

    assert decision.verdict is Verdict.OVERLAP
    assert old_run in decision.reason
    assert client.calls == ["BatchGetItem", "TransactWriteItems", "BatchGetItem", "PutItem"]
    item = aws.item(slot_sort_key(NEXT_SLOT))
    assert item is not None and item[STATUS]["S"] == Status.SKIPPED_OVERLAP
    assert OLD in item[REASON]["S"] and item[OWNER]["S"] != old_run
    assert aws.item(LEASE_SORT_KEY) is None
    later = decide(aws, renamed(), LATER_SLOT, "renamed-later")[1]
    assert later.verdict is Verdict.OVERLAP  # still held: the old run goes on
