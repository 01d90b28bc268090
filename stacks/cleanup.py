"""Cleanup of executions that end outside the state machine's own paths.

EventBridge rules on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED)
of this environment's state machines, each named, invoke a Lambda that releases the lease the
execution still holds and marks its slot. The lease expiry stays the last backstop.

Only this environment's: another team's ``<env>-orders`` shares the name prefix, so the rules
name each state machine, as many per rule as an event pattern holds (``machine_groups``), and
the Lambda may read only executions of state machines tagged as this environment's.

The same Lambda *reconciles* every ``RECONCILE_EVERY``: status-change events are delivered
on a best-effort basis, so it settles every RUNNING slot or held lease (the ledger's sparse
``running`` index) whose execution has ended. Before it releases a lease it stops the run's
ECS task and waits for STOPPED, so it may list, describe and stop the cluster's tasks. A run
whose state machine is being deleted (its job removed or renamed) has its task stopped and is
recorded as it ended: the cleanup may describe this environment's state machines to tell, and
to read where each job's tasks are from its definition.

Both invokes are asynchronous: the target's dead-letter queue catches only deliveries
EventBridge could not make. A cleanup that still raises after Lambda's own retries goes,
with its event, to the same queue through the function's on-failure destination, instead
of being dropped; the queue alarms.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from cronguard.config import Environment
from cronguard.config.model import ENVIRONMENT_TAG
from lambdas.cleanup import settings as cleanup_settings
from lambdas.core import variables
from lambdas.core.execution_contract import ENDED_STATUSES, STATUS_CHANGE
from lambdas.core.ledger_contract import RUNNING_INDEX
from stacks.compliance import LIST_TASKS_ONLY_STAR, acknowledge, wildcard_resource_finding
from stacks.functions import FailedInvocations, RuntimeFunction
from stacks.job.shapes import CONTAINER_NAME, task_family_prefix
from stacks.limits import EVENT_PATTERN_CHARACTERS

RECONCILE_EVERY = Duration.minutes(5)
ENDED_RETRY_ATTEMPTS = 8
ENDED_MAX_EVENT_AGE = Duration.hours(24)
# A pattern is measured as deployed to the longest account id and region code it can have
# (region codes have at most 15 characters today: us-isof-south-1).
ACCOUNT_STAND_IN = "0" * 12
REGION_STAND_IN = "x" * 20


def ended_rule_name(environment: Environment, number: int | str) -> str:
    """The name of the environment's ``number``th ended-execution rule (``*``: all of them)."""
    return f"cronguard-{environment.name}-execution-ended-{number}"


def ended_pattern(machines: Sequence[str], *, account: str, region: str) -> dict[str, Any]:
    """Status changes of executions of these state machines (by name) that ended outside
    their paths. A state machine's ARN ends in ``:stateMachine:<name>`` and a name holds no
    ``:``, so with the account and the region the pattern names exactly these machines."""
    return {
        "source": ["aws.states"],
        "detail-type": [STATUS_CHANGE],
        "account": [account],
        "region": [region],
        "detail": {
            "status": [str(status) for status in ENDED_STATUSES],
            "stateMachineArn": [{"suffix": f":stateMachine:{name}"} for name in machines],
        },
    }


def event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """``ended_pattern`` as the CDK takes it."""
    return events.EventPattern(
        source=pattern["source"],
        detail_type=pattern["detail-type"],
        account=pattern["account"],
        region=pattern["region"],
        detail=pattern["detail"],
    )


def machine_groups(machines: Sequence[str], *, region: str | None) -> list[list[str]]:
    """``machines`` in order, in as few groups as keep each group's pattern within the size
    EventBridge stores (``region``: where the environment is pinned, if it is)."""

    def fits(group: list[str]) -> bool:
        pattern = ended_pattern(group, account=ACCOUNT_STAND_IN, region=region or REGION_STAND_IN)
        return len(json.dumps(pattern)) <= EVENT_PATTERN_CHARACTERS

    groups: list[list[str]] = []
    for name in machines:
        if groups and fits([*groups[-1], name]):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


@jsii.implements(events.IRuleTarget)
class _InvokeCleanup:
    """The cleanup as a rule's target (retried, then kept in the dead-letter queue), without
    the permission and queue grant the CDK adds per rule: one of each covers every ended rule
    (a function policy holds at most 20 KB, a queue policy at most 20 statements)."""

    def __init__(self, function: lambda_.IFunction, dead_letter_queue: sqs.IQueue) -> None:
        self.function = function
        self.dead_letter_queue = dead_letter_queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self.function.function_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                arn=self.dead_letter_queue.queue_arn
            ),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=ENDED_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(ENDED_MAX_EVENT_AGE.to_seconds()),
            ),
        )


class ExecutionCleanup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        ledger: dynamodb.ITable,
        code: lambda_.Code,
        dead_letter_queue: sqs.IQueue,
        cluster: ecs.ICluster,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = RuntimeFunction(
            self,
            "Function",
            description=f"cronguard {environment.name}: release what ended executions hold",
            handler=cleanup_settings.HANDLER,
            code=code,
            environment={
                variables.LEDGER_TABLE: ledger.table_name,
                variables.ENVIRONMENT: environment.name,
                variables.JOB_CLUSTER_ARN: cluster.cluster_arn,
                variables.TASK_FAMILY_PREFIX: task_family_prefix(environment),
                variables.JOB_CONTAINER: CONTAINER_NAME,
            },
            # Stopping a run's task waits up to STOP_WAIT_SECONDS; a reconcile may do several.
            timeout=Duration.minutes(5),
        )
        # Every ledger write of the cleanup is conditional, so retrying a failure is safe;
        # what still fails is kept, with its event, in the (alarmed) dead-letter queue.
        self.function.function.configure_async_invoke(
            on_failure=FailedInvocations(dead_letter_queue),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[ledger.table_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Scan"], resources=[f"{ledger.table_arn}/index/{RUNNING_INDEX}"]
            )
        )
        executions = f"{environment.name}-*:*"
        # Step Functions authorizes an execution by its state machine's tags ("tag-based
        # policies"), and the job stacks' tags reach their state machines: the name prefix
        # alone would let the cleanup read another team's <env>-orders.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=executions,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": environment.name}
                },
            )
        )
        # A run whose state machine is being deleted (its job removed or renamed) is the
        # cleanup's to settle: it asks the run's state machine whether it is DELETING. Its
        # definition says where the job's tasks are (family, container, essential sidecars).
        machines_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=f"{environment.name}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeStateMachine"],
                resources=[machines_arn],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": environment.name}
                },
            )
        )
        tasks = f"task/{environment.cluster_name}/*"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[stack.format_arn(service="ecs", resource=tasks)],
            )
        )
        # ListTasks has no resource type; the cluster condition limits it to the jobs' cluster.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        acknowledge(self.function.role, "IAM5[Resource::*]", LIST_TASKS_ONLY_STAR)
        for resource in (f"execution:{executions}", f"stateMachine:{executions[:-2]}", tasks):
            service = "ecs" if resource == tasks else "states"
            acknowledge(
                self.function.role,
                wildcard_resource_finding(service, resource, stack),
                "Executions of this environment's state machines, those state machines "
                "(tagged as this environment's; a removed job's is no longer in config) and "
                "the tasks of its jobs' cluster: their ids are not known in advance.",
            )
        machines = sorted(environment.state_machine_name(job) for job in environment.jobs)
        target = _InvokeCleanup(self.function.function, dead_letter_queue)
        self.ended_rules = [
            events.Rule(
                self,
                "ExecutionEnded" if number == 1 else f"ExecutionEnded{number}",
                rule_name=ended_rule_name(environment, number),
                description=(
                    f"cronguard {environment.name}: executions that ended outside their paths"
                ),
                event_pattern=event_pattern(
                    ended_pattern(group, account=stack.account, region=stack.region)
                ),
                targets=[target],
            )
            for number, group in enumerate(
                machine_groups(machines, region=environment.region), start=1
            )
        ]
        ended_rules = stack.format_arn(
            service="events", resource="rule", resource_name=ended_rule_name(environment, "*")
        )
        events_service = iam.ServicePrincipal("events.amazonaws.com")
        self.function.function.add_permission(
            "InvokedByEndedRules",
            principal=events_service,
            source_arn=ended_rules,
            source_account=stack.account,
        )
        dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                principals=[events_service],
                resources=[dead_letter_queue.queue_arn],
                conditions={"ArnLike": {"aws:SourceArn": ended_rules}},
            )
        )
        self.reconcile = events.Rule(
            self,
            "Reconcile",
            description=f"cronguard {environment.name}: settle runs whose status change was lost",
            schedule=events.Schedule.rate(RECONCILE_EVERY),
            targets=[
                events_targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=RECONCILE_EVERY,
                )
            ],
        )
