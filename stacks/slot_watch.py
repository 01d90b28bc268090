"""The slot watch: every ``CHECK_EVERY`` it finds slots that never reached the ledger.

Its Lambda (``lambdas/slot_watch/handler.py``) runs the shared code asset and reads the jobs
from ``jobs.json``, rendered at synth from config (``lambdas/slot_watch/manifest.py``) into a
small layer of its own: Lambda variables (4 KB) and an EventBridge input (8 KB) are too small
for thousands of jobs, and a config change then updates this one function and its layer,
never the guards' code. The manifest is deploy intent, so a schedule disabled by mistake shows
up as missed slots.

One check per shard of the manifest (``SHARD_SIZE`` jobs at most), each from a rule of its
own every ``CHECK_EVERY`` with the shard in its input: the checks run side by side and none
grows with the number of jobs. One rule per shard rather than a dispatcher or a Step
Functions ``Map``: no code of ours between the schedule and the check, the same retries,
dead-letter queue and on-failure destination for every shard, and scheduled rules cost
nothing (a ``Map`` would bill its state transitions at every check).

It may Query the ledger and put and update records in the jobs' partitions (``MISSED``, its
own per-job record and watermark, the running-long mark on a lease of a job with
``alert_after``) and in its own (each shard's cursor). When some job has
``catch_up``, it may also start the environment's state machines: those named with the
environment's prefix *and* tagged as the environment's (``aws:ResourceTag``, as the cleanup
reads them), since one ARN per catch-up job outgrows a role's policy size at a few hundred
jobs; the watch starts only the catch-up jobs' (``WatchedJob.catch_up``), and each start is
a trigger the guard deduplicates. ``MissedSlots`` alarms once per environment (the per-job metric,
with a ``job`` dimension, and the logs name the job and slot). Like the orphan sweeper, the
watch is itself watched: its errors alarm, a failed check (or a trigger EventBridge could not
deliver) is kept in a queue that alarms, and a watch that stops reporting alarms.

Every 5 minutes: a slot is missed ``GRACE_MARGIN`` (5 minutes) plus the job's flexible
window after its time, so checking as often finds it within 5 more minutes; a steady check
of a job is two Queries that read its three records and its slots since the last check
(``docs/benchmark.md`` prices them).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack, Stage
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from cronguard.config import Environment
from cronguard.config.model import ENVIRONMENT_TAG
from lambdas.core import metrics_contract as names
from lambdas.core import variables
from lambdas.core.ledger_contract import JOB_PREFIX, WATCH_PREFIX
from lambdas.slot_watch import settings as watch_settings
from lambdas.slot_watch.manifest import FILE_NAME, Manifest, WatchedJob, render, shards
from stacks.compliance import acknowledge, wildcard_resource_finding
from stacks.functions import RuntimeFunction
from stacks.lambda_code import RUNTIME
from stacks.monitoring import alarm, service_metric
from stacks.periodic import failed_runs_alarm, run_periodically, silence_alarm

CHECK_EVERY = Duration.minutes(5)
# A watch that has not reported for this many check intervals in a row is not running.
SILENT_CHECKS = 3


def manifest(environment: Environment) -> Manifest:
    """The environment's jobs as the watch reads them: config, not the deployed state."""
    return Manifest(
        environment=environment.name,
        retention=environment.ledger.retention,
        jobs=tuple(
            WatchedJob(
                name=job.name,
                state_machine=environment.state_machine_name(job),
                schedule=job.watched_schedule,
                enabled=job.enabled,
                catch_up=job.catch_up.window if job.catch_up else None,
                alert_after=job.alert_after,
            )
            for job in environment.jobs
        ),
    )


def manifest_code(scope: Construct, environment: Environment) -> lambda_.Code:
    """``jobs.json`` as a layer's code: written under the app's output directory, so the
    asset (hashed by content) changes only when the manifest's bytes do."""
    stage = Stage.of(scope)
    if stage is None:
        raise ValueError("the slot watch must be built inside a CDK app (it writes jobs.json)")
    directory = Path(stage.outdir) / f"slot-watch-{environment.name}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / FILE_NAME).write_bytes(render(manifest(environment)))
    return lambda_.Code.from_asset(str(directory))


class SlotWatch(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        ledger: dynamodb.ITable,
        code: lambda_.Code,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        env = environment.name
        self.manifest = lambda_.LayerVersion(
            self,
            "Jobs",
            code=manifest_code(self, environment),
            compatible_runtimes=[RUNTIME],
            description=f"cronguard {env}: the jobs the slot watch checks ({FILE_NAME})",
        )
        machines = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name="",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.function = RuntimeFunction(
            self,
            "Function",
            description=f"cronguard {env}: find slots that never reached the ledger",
            handler=watch_settings.HANDLER,
            code=code,
            environment={
                variables.LEDGER_TABLE: ledger.table_name,
                variables.ENVIRONMENT: env,
                variables.STATE_MACHINE_ARN_PREFIX: machines,
            },
            # Below the interval, so checks do not pile up (two at once are safe: every write
            # is conditional).
            timeout=Duration.minutes(4),
        )
        self.function.function.add_layers(self.manifest)
        self._grant(environment, ledger)
        self._schedule_and_alarms(env, alarm_topic, len(environment.jobs))

    def _grant(self, environment: Environment, ledger: dynamodb.ITable) -> None:
        stack = Stack.of(self)
        # Reads and writes in the jobs' partitions and its own only.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[ledger.table_arn],
                conditions={
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": [f"{JOB_PREFIX}*", f"{WATCH_PREFIX}*"]
                    }
                },
            )
        )
        if not any(job.catch_up and job.enabled for job in environment.jobs):
            return
        # The environment's state machines: its name prefix, and its tag (another team's
        # state machine may share the prefix).
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StartExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="stateMachine",
                        resource_name=f"{environment.name}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": environment.name}
                },
            )
        )
        acknowledge(
            self.function.role,
            wildcard_resource_finding("states", f"stateMachine:{environment.name}-*", stack),
            "The environment's state machines (its name prefix and its tag): one ARN per "
            "catch-up job would outgrow the role's policy size at a few hundred jobs.",
        )

    def _schedule_and_alarms(self, env: str, alarm_topic: sns.ITopic, jobs: int) -> None:
        self.failed_checks, self.rules = run_periodically(
            self,
            self.function.function,
            every=CHECK_EVERY,
            queue_id="FailedChecks",
            rule_id="CheckSchedule",
            description=f"cronguard {env}: find missed slots",
            what="slot watch",
            inputs=[shard.event for shard in shards(jobs)],
        )
        missed = service_metric(env, names.MISSED_SLOTS, CHECK_EVERY)
        self.missed_alarm = alarm(
            self,
            "MissedSlotsAlarm",
            metric=missed,
            description=f"cronguard {env}: a scheduled slot never reached the guard. The slot "
            f"watch's logs ('missed slot') and the {names.MISSED_SLOTS} metric with the "
            f"'{names.JOB_DIMENSION}' dimension name the job and the slot; `cronguard history "
            "JOB` shows it as MISSED. Look for the cause (the schedule disabled, the "
            "dead-letter queue, StartExecution denied), then start it with `cronguard "
            "catch-up JOB`.",
            topic=alarm_topic,
        )
        alarm(
            self,
            "SlotWatchErrors",
            metric=self.function.function.metric_errors(period=CHECK_EVERY),
            description=f"cronguard {env}: the slot watch failed. SlotWatchIncomplete in its "
            "logs names the jobs it could not check (all others were checked); any other "
            "error: see its logs.",
            topic=alarm_topic,
        )
        failed_runs_alarm(
            self,
            "FailedChecksAlarm",
            queue=self.failed_checks,
            every=CHECK_EVERY,
            description=f"cronguard {env}: a slot-watch check failed (responsePayload has the "
            "error) or its trigger could not be delivered. The next check retries on its "
            "own; fix the cause, then delete the messages.",
            topic=alarm_topic,
        )
        silence_alarm(
            self,
            "SlotWatchSilent",
            reported=missed,
            intervals=SILENT_CHECKS,
            description=f"cronguard {env}: the slot watch has not completed a check for "
            f"{SILENT_CHECKS} intervals of {CHECK_EVERY.to_human_string()}; until it does, "
            "missed slots go unnoticed. Check its schedule rule, its errors and its logs.",
            topic=alarm_topic,
        )
