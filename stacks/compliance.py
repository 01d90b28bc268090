"""cdk-nag's AwsSolutions rules on every synth, through its v3 Validations API."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_compliance_checks(app: App) -> None:
    """Findings fail the synth unless acknowledged next to the construct (or, in a rendered
    job stack, in the resource's metadata), with a reason."""
    from stacks.job_stack_checks import JobStackChecks  # imports this module's PACK

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), JobStackChecks())


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Accept one AwsSolutions finding (``"IAM5[Resource::…]"``) on a construct, with why."""
    Validations.of(construct).acknowledge(
        Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason)
    )


def wildcard_resource_finding(stack: Stack, service: str, resource: str) -> str:
    """The IAM5 finding id cdk-nag reports for an ARN with a wildcard, as it prints it:
    pseudo parameters as ``<AWS::…>`` when the stack is environment-agnostic, else literal."""
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"IAM5[Resource::arn:<AWS::Partition>:{service}:{region}:{account}:{resource}]"
