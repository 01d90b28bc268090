"""The organisation's guardrails on every role cronguard creates (``iam:`` in config).

Applied as Aspects to the environment's stack, so they reach every role in its construct tree:
the environment's own, those the CDK adds, and the job stacks' included ones alike.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, IAspect, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from cronguard.config.model import Iam


@jsii.implements(IAspect)
class RolePath:
    """Put every role that has no path of its own under ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnRole) and node.path is None:
            node.path = self.path


def apply_guardrails(stack: Stack, settings: Iam) -> None:
    if settings.permissions_boundary is not None:
        boundary = iam.ManagedPolicy.from_managed_policy_arn(
            stack, "PermissionsBoundary", settings.permissions_boundary
        )
        iam.PermissionsBoundary.of(stack).apply(boundary)
    if settings.role_path is not None:
        Aspects.of(stack).add(RolePath(settings.role_path))
