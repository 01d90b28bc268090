"""CloudFormation's per-template limits, checked on a synthesized cloud assembly.

Used by the scale test and the scale benchmark: at thousands of jobs these, not the CDK, are
what stops a deploy. Values from CloudFormation's quotas (templates uploaded to S3, as the
CDK ships every template), the CloudWatch Logs resource policy every vended-log delivery of
a region shares, and the size of an EventBridge event pattern (``stacks/cleanup.py`` spreads
the environment's state machines over as many rules as that takes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_BYTES = 1_000_000  # a template body in S3: 1 MB
SECTION_LIMITS = {"Resources": 500, "Outputs": 200, "Parameters": 200, "Mappings": 200}
# A state machine logging to a group outside this prefix adds the group's ARN to the account's
# CloudWatch Logs resource policy, at most 5,120 characters for the region.
VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
RESOURCE_POLICY_CHARACTERS = 5_120
# An EventBridge rule's event pattern: at most 2,048 characters (EventBridge quotas, "Event
# pattern size"; adjustable, but an environment must deploy without asking).
EVENT_PATTERN_CHARACTERS = 2_048


@dataclass(frozen=True)
class TemplateSize:
    file: str
    bytes: int
    resources: int
    outputs: int
    parameters: int
    mappings: int


def templates(assembly: Path) -> list[Path]:
    """Every template of the assembly: the stacks' and their nested stacks'."""
    return sorted(assembly.glob("*.template.json"))


def size_of(template_file: Path) -> TemplateSize:
    body = template_file.read_bytes()
    template = json.loads(body)
    counts = [len(template.get(section, {})) for section in SECTION_LIMITS]
    return TemplateSize(template_file.name, len(body), *counts)


def _log_group_name(template: dict[str, Any], destination: Any) -> Any:
    """The name of the log group a logging destination's ``LogGroupArn`` points at: the
    group's ``LogGroupName`` when it is this template's (None if CloudFormation names it)."""
    reference = destination.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        group = template["Resources"].get(reference["Fn::GetAtt"][0], {})
        return group.get("Properties", {}).get("LogGroupName")
    return reference


def _vended(name: Any) -> bool:
    text = name.get("Fn::Sub") if isinstance(name, dict) else name
    return isinstance(text, str) and (
        text.startswith(VENDED_LOGS_PREFIX) or f":log-group:{VENDED_LOGS_PREFIX}" in text
    )


def limit_problems(template_file: Path) -> list[str]:
    """Every limit one template exceeds, each in words."""
    size = size_of(template_file)
    problems = []
    if size.bytes > TEMPLATE_BYTES:
        problems.append(f"{size.file}: {size.bytes:,} bytes; at most {TEMPLATE_BYTES:,}")
    for section, limit in SECTION_LIMITS.items():
        count = getattr(size, section.lower())
        if count > limit:
            problems.append(f"{size.file}: {count} {section.lower()}; at most {limit}")
    template = json.loads(template_file.read_text())
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        logging = resource.get("Properties", {}).get("LoggingConfiguration", {})
        for destination in logging.get("Destinations", []):
            name = _log_group_name(template, destination)
            if not _vended(name):
                problems.append(
                    f"{size.file}: {logical_id} logs to a group outside {VENDED_LOGS_PREFIX} "
                    f"({json.dumps(name)}): each such group takes room in the account's "
                    f"CloudWatch Logs resource policy ({RESOURCE_POLICY_CHARACTERS:,} characters "
                    "per region, shared by every vended-log delivery)"
                )
    return problems


def first_limit_hit(assembly: Path) -> str | None:
    """The first limit any template of the assembly exceeds, or None when all fit."""
    for template_file in templates(assembly):
        problems = limit_problems(template_file)
        if problems:
            return problems[0]
    return None
