"""cdk-nag's AwsSolutions rules on every synth: ``add_compliance_checks(app)``.

The environment's stack is constructs, checked by cdk-nag's own validation plugin (v3
Validations API); ``stacks/compliance.py`` accepts a finding on a construct.

cdk-nag walks the construct tree, and a rendered job stack is a template, not constructs.
So ``JobStackChecks``, a second validation plugin, loads each job stack's template back
into constructs with ``CfnInclude`` (in a scratch app that is never synthesized), applies
the acknowledgements the renderer put in each resource's
``Metadata.cdk_nag.rules_to_suppress`` and runs the same rule pack. Its findings fail the
synth and appear in ``validation-report.json`` beside the environment stack's own, under
``PLUGIN_NAME``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    App,
    CfnResource,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Stack,
    Validations,
)
from aws_cdk import cloudformation_include as cfn_include
from cdk_nag import AwsSolutionsChecks

from stacks.compliance import PACK
from stacks.job_template import TEMPLATE_SUFFIX

PLUGIN_NAME = f"{PACK}-JobStacks"
RENDERER = "stacks/job_template.py"


def add_compliance_checks(app: App) -> None:
    """Findings fail the synth unless accepted, with a reason: next to the construct, or,
    in a rendered job stack, in the resource's metadata (``stacks/job_template.py``)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), JobStackChecks())


@dataclass(frozen=True)
class Finding:
    rule: str  # e.g. AwsSolutions-IAM5[Resource::*]
    description: str
    logical_ids: tuple[str, ...]


def job_stack_templates(parent_template: Path) -> list[Path]:
    """The job stacks' template files of an environment's stack, from its template."""
    resources = json.loads(parent_template.read_text(encoding="utf-8"))["Resources"]
    return [
        parent_template.parent / resource["Metadata"]["aws:asset:path"]
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudFormation::Stack"
        and str(resource.get("Metadata", {}).get("aws:asset:path", "")).endswith(TEMPLATE_SUFFIX)
    ]


def acknowledgements(resource: dict[str, Any]) -> list[dict[str, str]]:
    suppressed: list[dict[str, str]] = (
        resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    )
    return suppressed


def check_template(template_file: Path) -> list[Finding]:
    """The open AwsSolutions findings in one rendered template."""
    stack = Stack(App(), "JobStack")
    included = cfn_include.CfnInclude(stack, "Template", template_file=str(template_file))
    resources = json.loads(template_file.read_text(encoding="utf-8"))["Resources"]
    for logical_id, resource in resources.items():
        construct: CfnResource = included.get_resource(logical_id)
        for accepted in acknowledgements(resource):
            Validations.of(construct).acknowledge(
                Acknowledgment(id=accepted["id"], reason=accepted["reason"])
            )
    report = AwsSolutionsChecks().validate_scope(stack)
    return [
        Finding(
            rule=violation.rule_name,
            description=violation.description,
            logical_ids=tuple(
                str(resource.construct_path).rsplit("/", 1)[-1]
                for resource in violation.violating_resources
            ),
        )
        for violation in report.violations
    ]


@jsii.implements(IPolicyValidationPlugin)
class JobStackChecks:
    """The validation plugin: ``Validations.of(app).add_plugins(JobStackChecks())``."""

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        violations = []
        for parent in context.template_paths:
            for template_file in job_stack_templates(Path(parent)):
                for finding in check_template(template_file):
                    violations.append(
                        PolicyViolation(
                            rule_name=finding.rule,
                            description=f"{finding.description} This resource is rendered "
                            f"by {RENDERER}: fix it there, or accept the finding there with "
                            "a reason.",
                            severity="error",
                            violating_resources=[
                                PolicyViolatingResource(
                                    resource_logical_id=logical_id,
                                    template_path=str(template_file),
                                    locations=["Properties"],
                                )
                                for logical_id in finding.logical_ids
                            ],
                        )
                    )
        return PolicyValidationPluginReport(success=not violations, violations=violations)
