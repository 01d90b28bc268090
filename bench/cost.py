"""What cronguard costs in AWS, per run and per job-month, from counts measured here: tables
6-8 of `make bench` (``bench/benchmark.py --guard-only`` runs them with tables 2-4).

Counts, each measured: Step Functions state transitions per execution (the local engine runs
the synthesized definition: the benchmark measures them and passes them in), the guard's
Lambda invocations and DynamoDB calls per decision (the same run), the slot watch's reads,
writes and CPU per steady check of a daily, an hourly and an every-minute job (the real watch
against moto, metered by ``testkit/capacity.py`` from DynamoDB's item-size rules), and
``cronguard status``'s reads for a job every minute. Each count times the on-demand price of
one region (``PRICES``). Beside it, the same for ``aws_ecs_patterns.ScheduledFargateTask`` (an
EventBridge rule that runs the task: no guard, no ledger, no watch). The Fargate task itself
costs the same on both sides and is left out. Figures, never asserted.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.table import Table  # noqa: E402

from lambdas.core.missed import LOOK_BACK_CAP, JobSchedule, due_slots  # noqa: E402
from lambdas.slot_watch.manifest import SHARD_SIZE, Manifest, WatchedJob, shards  # noqa: E402
from testkit.capacity import ReadMeter, query_read_units, write_units  # noqa: E402
from testkit.history import create_ledger_table, every, succeeded, write  # noqa: E402

REGION = "us-east-1"
PRICES_CHECKED = "2026-12-07"
# US East (N. Virginia), on demand, as published on these pages. Checked on PRICES_CHECKED
# without internet: Step Functions against a stored copy of its own page; Lambda, DynamoDB
# (after the November 2024 on-demand cut) and Scheduler against 2025-2026 copies of the pages
# and price guides. Re-read the pages before quoting a figure.
PRICES = {
    "transition": 0.025 / 1000,  # aws.amazon.com/step-functions/pricing (Standard)
    "lambda_request": 0.20 / 1e6,  # aws.amazon.com/lambda/pricing (x86)
    "lambda_gb_second": 0.0000166667,  # aws.amazon.com/lambda/pricing (x86)
    "read_unit": 0.125 / 1e6,  # aws.amazon.com/dynamodb/pricing/on-demand (read request unit)
    "write_unit": 0.625 / 1e6,  # aws.amazon.com/dynamodb/pricing/on-demand (write request unit)
    "scheduler": 1.00 / 1e6,  # aws.amazon.com/eventbridge/pricing (Scheduler, past 14M free)
}
SOURCES = (
    "https://aws.amazon.com/step-functions/pricing/, https://aws.amazon.com/lambda/pricing/, "
    "https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/eventbridge/pricing/"
)
MEMORY_MB = 256  # stacks/functions.py MEMORY_MB: every cronguard Lambda
VCPU_MB = 1769  # Lambda: one vCPU at 1,769 MB
TIMEOUT_SECONDS = 240  # the slot watch's
NETWORK_MS = 10  # a DynamoDB call's round trip in the region (a cautious stand-in: not measured)
GUARD_MS = 100  # the guard's billed duration per invocation (a stand-in: not measured here)
CHECKS_PER_DAY = 24 * 60 // 5
DAYS_PER_MONTH = 30
KINDS = {  # job kind: its schedule, its slot interval
    "daily": ("cron(0 3 * * ? *)", timedelta(days=1)),
    "hourly": ("cron(0 * * * ? *)", timedelta(hours=1)),
    "every minute": ("cron(* * * * ? *)", timedelta(minutes=1)),
}
ENVIRONMENT = {"every minute": 500, "hourly": 1000, "daily": 1500}  # 3,000 jobs


@dataclass(frozen=True)
class WatchCheck:
    """One job's steady check by the slot watch: medians over several checks."""

    reads: float  # read units
    items: float  # items read
    writes: float  # write units
    calls: float  # DynamoDB calls
    cpu_ms: float  # the watch's own CPU here (moto's request handling left out)
    old_reads: float  # read units of the same check reading the whole 7-day partition


@contextmanager
def moto_time() -> Iterator[list[float]]:
    """The seconds spent inside moto's request handling (AWS's side, not the function's)."""
    from moto.core.botocore_stubber import BotocoreStubber

    spent = [0.0]
    original = BotocoreStubber.__call__

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.thread_time() - started

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def watch_checks() -> tuple[dict[str, WatchCheck], float]:
    """Steady checks of one job of each kind, and ``status``'s read units for the job every
    minute. Each partition holds the slots of the last checks only: a steady check's reads do
    not depend on the history behind the watermark (tests/lambdas/test_slot_watch.py)."""
    import boto3
    from moto import mock_aws

    from lambdas.slot_watch.handler import watch

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    table = "cronguard-bench-ledger"
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    figures: dict[str, WatchCheck] = {}
    with mock_aws(), moto_time() as in_moto:
        client = boto3.client("dynamodb", region_name=REGION)
        create_ledger_table(client, table)
        meter = ReadMeter(boto3.client("dynamodb", region_name=REGION))  # its own reads uncounted
        meter.register(client.meta.events)
        writes: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: writes.append(model.name)
        )
        plain = boto3.client("dynamodb", region_name=REGION)  # no hook: for the CPU time
        for kind, (expression, step) in KINDS.items():
            job = WatchedJob(kind.replace(" ", "-"), "bench", JobSchedule(expression))
            twin = replace(job, name=f"{job.name}-timed")  # the same, checked without meters
            manifests = [Manifest("bench", LOOK_BACK_CAP, (each,)) for each in (job, twin)]
            start = now - max(step * 3, timedelta(hours=2))
            for each, manifest in zip((job, twin), manifests, strict=True):
                ran = due_slots(job.schedule, after=start, until=now + timedelta(minutes=5))
                write(plain, table, [succeeded(each.name, slot) for slot in ran])
                watch(plain, None, table, manifest, now=start, state_machine_arn_prefix="")
            samples: list[tuple[float, ...]] = []
            moment = now + timedelta(minutes=10)
            for _ in range(12):  # an hour of checks, every 5 minutes
                # The runs since the last check, at the schedule's slots, as the guard records.
                recent = list(
                    due_slots(job.schedule, after=moment - timedelta(minutes=5), until=moment)
                )
                for each in (job, twin):
                    write(plain, table, [succeeded(each.name, slot) for slot in recent])
                meter.clear()
                writes.clear()
                watch(client, None, table, manifests[0], now=moment, state_machine_arn_prefix="")
                spent, cpu = in_moto[0], time.thread_time()
                watch(plain, None, table, manifests[1], now=moment, state_machine_arn_prefix="")
                own = (time.thread_time() - cpu) - (in_moto[0] - spent)
                watch_record = plain.get_item(
                    TableName=table,
                    Key={"pk": {"S": f"job#{job.name}"}, "sk": {"S": "schedule"}},
                )["Item"]
                updates = sum(1 for name in writes if name in ("UpdateItem", "PutItem"))
                samples.append(
                    (
                        meter.units,
                        meter.items,
                        updates * write_units(watch_record),
                        len(writes),
                        own,
                    )
                )
                moment += timedelta(minutes=5)
            # Before the watermark: one Query of the whole partition, 7 days of records.
            old = query_read_units(
                succeeded(job.name, s) for s in every(now - LOOK_BACK_CAP, now, step)
            )
            reads, items, wrote, calls, cpu = (
                statistics.median(sample[n] for sample in samples) for n in range(5)
            )
            figures[kind] = WatchCheck(reads, items, wrote, calls, cpu * 1000, old)
        status_units = status_reads(client, boto3.client("dynamodb", region_name=REGION), table)
    return figures, status_units


def status_reads(client: Any, reader: Any, table: str) -> float:
    """``cronguard status``'s read units for the job every minute, as its row reads them."""
    from cronguard.operations import status

    ops = SimpleNamespace(
        environment=SimpleNamespace(ledger_table_name=table),
        _call=lambda _, call, **kwargs: call(**kwargs),
    )
    job = SimpleNamespace(name="every-minute")
    meter = ReadMeter(reader)
    meter.register(client.meta.events)
    status.read_job(ops, job, client, datetime.now(UTC), LOOK_BACK_CAP)  # type: ignore[arg-type]
    return meter.units


def vcpu_share() -> float:
    return MEMORY_MB / VCPU_MB


def watch_seconds(check: WatchCheck) -> float:
    """A job's share of a check at the deployed memory: its CPU here scaled by the memory's
    share of a vCPU (this machine's core as one vCPU), plus a round trip per call."""
    return check.cpu_ms / 1000 / vcpu_share() + check.calls * NETWORK_MS / 1000


@dataclass(frozen=True)
class Run:
    """What one run (a slot that runs, with its claim and finish) bills."""

    transitions: int
    invocations: int
    read_units: float
    write_units: float


def guard_run(
    calls: Sequence[str], transitions: int, duplicate_transitions: int
) -> tuple[Run, dict[str, Any]]:
    """A normal run's counts, as the local engine measured them (tables 2 and 3 of the
    benchmark): the guard's DynamoDB ``calls`` and the billed state ``transitions`` of a normal
    run and of a skipped duplicate. The guard's calls are priced by DynamoDB's rules for items
    under 1 KB: a strongly consistent BatchGetItem of 3 keys is 3 read units, a
    TransactWriteItems 2 write units per item (the claim: the slot, the lease and the pause
    record's condition check), an UpdateItem or DeleteItem 1."""
    units = {"BatchGetItem": (3, 0), "TransactWriteItems": (0, 6), "UpdateItem": (0, 1)}
    units["DeleteItem"] = (0, 1)
    read = sum(units.get(call, (0, 1))[0] for call in calls)
    written = sum(units.get(call, (0, 1))[1] for call in calls)
    run = Run(transitions, 2, read, written)
    return run, {"calls": list(calls), "duplicate": duplicate_transitions}


def run_cost(run: Run) -> dict[str, float]:
    gb_seconds = run.invocations * GUARD_MS / 1000 * MEMORY_MB / 1024
    return {
        "Step Functions transitions": run.transitions * PRICES["transition"],
        "guard Lambda": run.invocations * PRICES["lambda_request"]
        + gb_seconds * PRICES["lambda_gb_second"],
        "ledger (DynamoDB)": run.read_units * PRICES["read_unit"]
        + run.write_units * PRICES["write_unit"],
        "Scheduler": PRICES["scheduler"],
    }


def watch_cost_per_month(check: WatchCheck, jobs: int = 1) -> dict[str, float]:
    checks = CHECKS_PER_DAY * DAYS_PER_MONTH * jobs
    gb_seconds = checks * watch_seconds(check) * MEMORY_MB / 1024
    return {
        "slot watch reads and writes": checks
        * (check.reads * PRICES["read_unit"] + check.writes * PRICES["write_unit"]),
        "slot watch Lambda": gb_seconds * PRICES["lambda_gb_second"],
    }


def money(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.6f}".rstrip("0")


def cost_tables(
    run: Run, engine: dict[str, Any], checks: dict[str, WatchCheck], status: float
) -> list[Table]:
    runs_per_month = {
        "daily": DAYS_PER_MONTH,
        "hourly": 24 * DAYS_PER_MONTH,
        "every minute": 24 * 60 * DAYS_PER_MONTH,
    }
    per_run = run_cost(run)
    counts = Table(title="6. what a run and a watch check do (counted here)")
    for column in ("what", "count", "measured how"):
        counts.add_column(column, justify="right" if column == "count" else "left")
    counts.add_row(
        "state transitions, a normal run", str(run.transitions), "local engine, synthesized ASL"
    )
    counts.add_row("state transitions, a skipped duplicate", str(engine["duplicate"]), "the same")
    counts.add_row("guard invocations per run", str(run.invocations), "claim and finish")
    counts.add_row(
        "guard DynamoDB calls per run",
        ", ".join(engine["calls"]),
        f"{run.read_units:g} RU, {run.write_units:g} WU",
    )
    counts.add_row("Scheduler invocations per slot", "1", "one delivery (no retry)")
    for kind, check in checks.items():
        counts.add_row(
            f"watch, steady check of a job {kind}",
            f"{check.items:g} items, {check.reads:g} RU, {check.writes:g} WU",
            f"{check.calls:g} calls; before: {check.old_reads:g} RU (its 7-day partition)",
        )
    counts.add_row("status, a job every minute", f"{status:g} RU", "before: the whole partition")
    counts.caption = (
        "Read and write units from DynamoDB's item-size rules over the items each call read "
        "or wrote (testkit/capacity.py), eventually consistent reads for the watch and status. "
        "A steady check: the median of 12 checks 5 minutes apart, each after the runs of its "
        "interval were recorded."
    )

    table = Table(title=f"7. AWS cost, on demand, {REGION} (prices checked {PRICES_CHECKED})")
    for column in ("row", "cronguard", "largest line item", "ScheduledFargateTask"):
        table.add_column(
            column, justify="left" if column in ("row", "largest line item") else "right"
        )
    total_run = sum(per_run.values())
    item, value = max(per_run.items(), key=lambda pair: pair[1])
    table.add_row("per run", money(total_run), f"{item} {money(value)}", money(0))
    environment: dict[str, float] = {}
    for kind, runs in runs_per_month.items():
        lines = {name: cost * runs for name, cost in per_run.items()}
        lines.update(watch_cost_per_month(checks[kind]))
        total = sum(lines.values())
        item, value = max(lines.items(), key=lambda pair: pair[1])
        table.add_row(
            f"per job-month, a job {kind}", money(total), f"{item} {money(value)}", money(0)
        )
        for name, cost in lines.items():
            environment[name] = environment.get(name, 0.0) + cost * ENVIRONMENT[kind]
    total = sum(environment.values())
    item, value = max(environment.items(), key=lambda pair: pair[1])
    table.add_row(
        "per month, 3,000 jobs (500 every minute, 1,000 hourly, 1,500 daily)",
        money(total),
        f"{item} {money(value)} ({value / total:.0%})",
        money(0),
    )
    table.caption = (
        f"Prices: Step Functions Standard $0.025 per 1,000 state transitions; Lambda $0.20 per "
        f"million requests and $0.0000166667 per GB-second (x86); DynamoDB on demand $0.125 per "
        f"million read and $0.625 per million write request units; EventBridge Scheduler $1.00 "
        f"per million invocations past 14 million a month (counted from the first); rules on a "
        f"schedule, such as ScheduledFargateTask's, are not billed per event. Sources: {SOURCES}. "
        f"Left out: the Fargate task (the same on both sides), CloudWatch logs and metrics, "
        f"storage. Lambda at {MEMORY_MB} MB; the guard billed {GUARD_MS} ms per invocation (a "
        "stand-in, not measured here); the watch's share per job as in table 8. The largest "
        "line item is Step Functions' state transitions (5 a run): lowering it takes fewer "
        "states per run (the claim and the run's start in one Task), or an Express workflow "
        "for the guard (billed by duration, without its execution history); every other line "
        "is a few percent."
    )

    budget = Table(title="8. the slot watch at 3,000 jobs (500 every minute): reads and time")
    for column in ("figure", "value", "target"):
        budget.add_column(column, justify="left" if column == "figure" else "right")
    old_day = sum(checks[k].old_reads * n for k, n in ENVIRONMENT.items()) * CHECKS_PER_DAY
    new_day = sum(checks[k].reads * n for k, n in ENVIRONMENT.items()) * CHECKS_PER_DAY
    budget.add_row("reads per day, before (whole partitions)", f"{old_day:,.0f} RU", "-")
    budget.add_row("reads per day, now", f"{new_day:,.0f} RU", "-")
    budget.add_row(
        "now / before",
        f"{new_day / old_day:.2%}",
        "< 1%" + ("" if new_day < old_day / 100 else " MISSED"),
    )
    for kind, (_, step) in KINDS.items():
        new_slots = max(1, round(timedelta(minutes=5) / step))
        budget.add_row(
            f"items read per steady check, a job {kind}",
            f"{checks[kind].items:g}",
            f"≤ {new_slots} new slot(s) + 3"
            + ("" if checks[kind].items <= new_slots + 3 else " MISSED"),
        )
    jobs = sum(ENVIRONMENT.values())
    parts = shards(jobs)
    per_job = {kind: watch_seconds(check) for kind, check in checks.items()}
    # The worst shard: as many every-minute jobs as a shard can hold.
    heaviest = (
        min(SHARD_SIZE, ENVIRONMENT["every minute"]) * per_job["every minute"]
        + max(0, SHARD_SIZE - ENVIRONMENT["every minute"]) * per_job["hourly"]
    )
    budget.add_row("checks (shards) per 5 minutes", f"{len(parts)} of ≤ {SHARD_SIZE} jobs", "-")
    budget.add_row(
        f"the heaviest shard's check at {MEMORY_MB} MB",
        f"{heaviest:.1f} s ({heaviest / TIMEOUT_SECONDS:.0%} of {TIMEOUT_SECONDS} s)",
        "≤ 25%" + ("" if heaviest <= TIMEOUT_SECONDS / 4 else " MISSED"),
    )
    budget.add_row("status, a job every minute", f"{status:g} RU", "< 10 RU")
    budget.caption = (
        f"Time scaled to the deployed memory: the watch's own CPU here (moto's request handling "
        f"left out) divided by {MEMORY_MB}/{VCPU_MB} of a vCPU (this machine's core taken as "
        f"one vCPU), plus {NETWORK_MS} ms per DynamoDB call (a cautious in-region round trip, "
        "not measured): "
        + ", ".join(f"{kind} {1000 * seconds:.0f} ms" for kind, seconds in per_job.items())
        + " per job. Before: each check read each job's whole 7-day partition (the issue's "
        "figure: 500 jobs every minute could not be checked within the timeout)."
    )
    return [counts, table, budget]


def tables(calls: Sequence[str], transitions: int, duplicate_transitions: int) -> list[Table]:
    """Tables 6, 7 and 8, from the local engine's counts of a normal run (``guard_run``)."""
    run, counted = guard_run(calls, transitions, duplicate_transitions)
    checks, status = watch_checks()
    return cost_tables(run, counted, checks, status)
