"""Accepting a cdk-nag (AwsSolutions) finding on a construct, with the reason why."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct

PACK = "AwsSolutions"
LOG_DELIVERY_ONLY_STAR = "The CloudWatch Logs delivery actions support only Resource '*'."
LIST_TASKS_ONLY_STAR = (
    "ecs:ListTasks has no task resource type; it is limited to the jobs' cluster by the "
    "ecs:cluster condition."
)
NO_TRACING = (
    "X-Ray is off on purpose: Powertools' Tracer would more than double the guard's cold "
    "import; the execution history, logs and metrics show each run end to end."
)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one AwsSolutions finding (``"IAM5[Resource::…]"``) on a construct, with why."""
    acknowledge_all(construct, [(rule, reason)])


def acknowledge_all(construct: IConstruct, accepted: Iterable[tuple[str, str]]) -> None:
    """Accept several findings, each (rule, reason), on a construct in one call: a call
    costs a few milliseconds, and a job stack accepts thousands of findings at 250 jobs."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason) for rule, reason in accepted)
    )


def wildcard_resource_finding(service: str, resource: str, stack: Stack | None = None) -> str:
    """The IAM5 finding id cdk-nag reports for an ARN with a wildcard, as it prints it:
    pseudo parameters as ``<AWS::…>``, or literal where ``stack`` is pinned to an account and
    region (a construct's ARN). A rendered job stack's ARNs always name the pseudo parameters
    (``stacks.job.cloudformation.arn``): no ``stack``."""
    region, account = "<AWS::Region>", "<AWS::AccountId>"
    if stack is not None and not Token.is_unresolved(stack.region):
        region = stack.region
    if stack is not None and not Token.is_unresolved(stack.account):
        account = stack.account
    return f"IAM5[Resource::arn:<AWS::Partition>:{service}:{region}:{account}:{resource}]"
